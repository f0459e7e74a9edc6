package user

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/pinery/pinery/engine/resource"
)

// sensitiveChanged is what a changed password hash shows instead of itself.
const sensitiveChanged = "(sensitive value changed)"

// Operations of a plan.
const (
	opCreate = "create" // useradd
	opModify = "modify" // usermod and/or chpasswd, mkhomedir_helper
	opDelete = "delete" // userdel
)

// Private is what Apply needs from the plan. It holds no secret: the
// password hash is taken from the resource itself.
type Private struct {
	Op   string   `json:"op"`
	Args []string `json:"args,omitempty"` // options of useradd/usermod/userdel, before the name
	// Groups that must exist when applying (they may be created earlier in
	// the same run), checked first for a clear error.
	NeedGroups  []string `json:"need_groups,omitempty"`
	NeedPrimary string   `json:"need_primary,omitempty"`
	// OwnGroup: a new account without group takes an existing group of its
	// name as primary group, since useradd refuses to create it again.
	OwnGroup bool `json:"own_group,omitempty"`
	Password bool `json:"password,omitempty"`  // set password_hash (chpasswd -e)
	MakeHome bool `json:"make_home,omitempty"` // mkhomedir_helper on an existing account
}

// Plan compares the probe's output with the desired account.
func (u *User) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", u.name, err)
	}
	if u.absent {
		if !p.present {
			return &resource.Diff{Action: resource.NoOp}, nil
		}
		ch := []resource.Change{{Field: "state", Old: "present", New: "absent"}}
		priv := &Private{Op: opDelete}
		if u.remHome {
			ch = append(ch, resource.Change{Field: "home", Old: p.home, New: "removed"})
			priv.Args = []string{"-r"}
		}
		return &resource.Diff{Action: resource.Delete, Changes: ch, Private: priv}, nil
	}
	if p.present && u.password != "" && p.shadow == "unreadable" {
		return nil, fmt.Errorf("user %q: cannot read /etc/shadow to compare password_hash; connect as root or with sudo", u.name)
	}
	if !p.present {
		return u.planCreate(), nil
	}
	return u.planModify(p), nil
}

func (u *User) change(field, old, new string) resource.Change {
	return resource.Change{Field: field, Old: old, New: new, Sensitive: u.sensitive[field]}
}

func (u *User) planCreate() *resource.Diff {
	var ch []resource.Change
	priv := &Private{Op: opCreate}
	if u.system {
		ch = append(ch, u.change("system", "", "true"))
		priv.Args = append(priv.Args, "--system")
	}
	if u.uid != "" {
		ch = append(ch, u.change("uid", "", u.uid))
		priv.Args = append(priv.Args, "-u", u.uid)
	}
	if u.group != "" {
		ch = append(ch, u.change("group", "", u.group))
		priv.Args = append(priv.Args, "-g", u.group)
		priv.NeedPrimary = u.group
	} else {
		priv.OwnGroup = true
	}
	if len(u.groups) > 0 {
		ch = append(ch, u.change("groups", "", showList(u.groups)))
		priv.Args = append(priv.Args, "-G", strings.Join(u.groups, ","))
		priv.NeedGroups = u.groups
	}
	if u.home != "" {
		ch = append(ch, u.change("home", "", u.home))
		priv.Args = append(priv.Args, "-d", u.home)
	}
	if u.createHome {
		ch = append(ch, u.change("create_home", "", "true"))
		priv.Args = append(priv.Args, "-m")
	} else {
		priv.Args = append(priv.Args, "-M")
	}
	if u.shell != "" {
		ch = append(ch, u.change("shell", "", u.shell))
		priv.Args = append(priv.Args, "-s", u.shell)
	}
	if u.setComment {
		ch = append(ch, u.change("comment", "", u.comment))
		priv.Args = append(priv.Args, "-c", u.comment)
	}
	if u.password != "" {
		ch = append(ch, resource.Change{Field: "password_hash", New: sensitiveChanged, Sensitive: true})
		priv.Password = true
	}
	return &resource.Diff{Action: resource.Create, Changes: ch, Private: priv}
}

func (u *User) planModify(p *probe) *resource.Diff {
	var ch []resource.Change
	priv := &Private{Op: opModify}
	if u.uid != "" && u.uid != p.uid {
		ch = append(ch, u.change("uid", p.uid, u.uid))
		priv.Args = append(priv.Args, "-u", u.uid)
	}
	if u.group != "" && !sameGroup(u.group, member{p.group, p.gid}) {
		old := p.group
		if old == "" {
			old = p.gid
		}
		ch = append(ch, u.change("group", old, u.group))
		priv.Args = append(priv.Args, "-g", u.group)
		priv.NeedPrimary = u.group
	}
	if u.setGroups {
		missing, extra := diffGroups(u.groups, p.members)
		if len(missing) > 0 || (!u.append && len(extra) > 0) {
			cur := make([]string, len(p.members))
			for i, m := range p.members {
				cur[i] = m.name
			}
			want := u.groups
			if u.append {
				want = append(cur[:len(cur):len(cur)], missing...)
				priv.Args = append(priv.Args, "-a", "-G", strings.Join(missing, ","))
				priv.NeedGroups = missing
			} else {
				priv.Args = append(priv.Args, "-G", strings.Join(u.groups, ","))
				if len(u.groups) > 0 {
					priv.NeedGroups = u.groups
				}
			}
			ch = append(ch, u.change("groups", showList(cur), showList(want)))
		}
	}
	if u.home != "" && u.home != p.home {
		ch = append(ch, u.change("home", p.home, u.home))
		priv.Args = append(priv.Args, "-d", u.home)
	}
	if u.forceHome && !p.homedir {
		home := u.home
		if home == "" {
			home = p.home
		}
		ch = append(ch, u.change("create_home", "missing", home))
		priv.MakeHome = true
	}
	if u.shell != "" && u.shell != p.shell {
		ch = append(ch, u.change("shell", p.shell, u.shell))
		priv.Args = append(priv.Args, "-s", u.shell)
	}
	if u.setComment && u.comment != p.comment {
		ch = append(ch, u.change("comment", p.comment, u.comment))
		priv.Args = append(priv.Args, "-c", u.comment)
	}
	if u.password != "" && p.shadow != digest(u.password) {
		ch = append(ch, resource.Change{Field: "password_hash", New: sensitiveChanged, Sensitive: true})
		priv.Password = true
	}
	if len(ch) == 0 {
		return &resource.Diff{Action: resource.NoOp}
	}
	return &resource.Diff{Action: resource.Update, Changes: ch, Private: priv}
}

// digest is what the probe prints for a shadow hash.
func digest(hash string) string {
	s := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(s[:])
}

// sameGroup reports whether a group reference (name or gid) is the group.
func sameGroup(ref string, g member) bool {
	if isDigits(ref) {
		return ref == g.gid
	}
	return ref == g.name
}

// diffGroups returns the wanted groups the account is not in, and the
// names of those it is in but not wanted.
func diffGroups(want []string, have []member) (missing, extra []string) {
	for _, w := range want {
		found := false
		for _, h := range have {
			if sameGroup(w, h) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	for _, h := range have {
		found := false
		for _, w := range want {
			if sameGroup(w, h) {
				found = true
				break
			}
		}
		if !found {
			extra = append(extra, h.name)
		}
	}
	return missing, extra
}

// showList prints a group list sorted, so that order never shows as a change.
func showList(l []string) string {
	s := append([]string(nil), l...)
	sort.Strings(s)
	return "[" + strings.Join(s, ", ") + "]"
}
