// Package group is the `group` resource type: one local Unix group in
// /etc/group, managed with Debian's shadow tools (groupadd, groupmod,
// groupdel).
package group

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func init() {
	resource.Register(&resource.Type{
		Name:    "group",
		Summary: "A local Unix group and its gid (groupadd/groupmod/groupdel).",
		Doc: `Manages one local group (` + "`/etc/group`" + `, ` + "`/etc/gshadow`" + `): that it exists with the
given gid, or that it does not exist. Groups from LDAP or another NSS source are not seen.

The probe reads ` + "`/etc/group`" + ` with the shell's own ` + "`read`" + ` (no process is started). A new
group is created with ` + "`groupadd`" + `, a different gid is changed with ` + "`groupmod -g`" + `, and
the group is removed with ` + "`groupdel`" + `.

- Changing ` + "`gid`" + ` also changes it for the accounts whose primary group this is, but not
  the group of existing files: those keep the old number (` + "`find / -gid OLD`" + ` finds them).
  A gid used by another group fails the apply.
- ` + "`system`" + ` only applies when the group is created (a gid from the system range); it
  cannot be changed later and is ignored for an existing group.
- Members are managed on the accounts: the ` + "`groups`" + ` field of ` + "`user`" + `. A ` + "`user`" + `
  that uses this group must list it in its ` + "`depends_on`" + `, so that the group exists when
  the account is applied.
- A group that is some account's primary group cannot be removed: remove or change that
  account first, and make the group depend on that ` + "`user`" + ` resource.`,
		Example: `group "render" {
  name   = "render"
  system = true
}

group "video_edit" {
  name = "video-edit"
  gid  = 2001
}

group "old_team" {
  name  = "oldteam"
  state = "absent"
}`,
		Fields: []resource.Field{
			{Name: "name", Type: cty.String, Required: true,
				Doc: "The group name: letters, digits, `_`, `.` and `-`, not starting with `-` or `.`, not all digits, at most 32 characters."},
			{Name: "gid", Type: cty.Number,
				Doc: "The numeric group id. Unset: a new group gets the next free one (from the system range with `system = true`), an existing one keeps its own. A different gid of an existing group is changed with `groupmod -g`."},
			{Name: "system", Type: cty.Bool, Default: cty.False,
				Doc: "Create a system group (`groupadd --system`). Only applies when the group is created."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`."},
		},
		New: New,
	})
}

// Group is one configured group.
type Group struct {
	name   string
	gid    string // "" unset
	system bool
	absent bool
}

var _ resource.Resource = (*Group)(nil)

// New validates a group block.
func New(cfg resource.Config) (resource.Resource, error) {
	g := &Group{name: cfg.String("name"), system: cfg.Bool("system")}
	if err := checkName(g.name); err != nil {
		return nil, cfg.Errorf("name", "%v", err)
	}
	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		g.absent = true
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if cfg.IsSet("gid") {
		if g.absent {
			return nil, cfg.Errorf("gid", "has no effect with state = \"absent\"; remove it")
		}
		bf := cfg.Values["gid"].AsBigFloat()
		i, acc := bf.Int64()
		if !bf.IsInt() || acc != 0 || i < 0 || i > 4294967294 {
			return nil, cfg.Errorf("gid", "must be a whole number from 0 to 4294967294, not %s", bf.Text('f', -1))
		}
		g.gid = strconv.FormatInt(i, 10)
	}
	if g.absent && g.system {
		return nil, cfg.Errorf("system", "has no effect with state = \"absent\"; remove it")
	}
	return g, nil
}

// nameRE: Debian's rule for group names narrowed to what needs no shell
// quoting; the same as the user type's.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)

func checkName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("must not be empty; give the group's name")
	case !nameRE.MatchString(s):
		return fmt.Errorf("%q is not a valid group name: use letters, digits, '_', '.' and '-', not starting with '-' or '.', at most 32 characters", s)
	case strings.Trim(s, "0123456789") == "":
		return fmt.Errorf("%q is all digits, which tools read as a numeric gid; use a name with a letter in it", s)
	}
	return nil
}

// Probe prints the group's gid from /etc/group, with no process started.
//
//	group=absent | gid=N
func (g *Group) Probe() string {
	return "n=" + shellescape.Quote(g.name) + `
while IFS=: read -r a b c d || [ -n "$a" ]; do
  if [ "$a" = "$n" ]; then printf 'gid=%s\n' "$c"; exit 0; fi
done </etc/group
echo group=absent
`
}

// parseProbe returns the group's gid, "" when it does not exist.
func parseProbe(out resource.ProbeResult) (string, error) {
	if out.ExitCode != 0 {
		return "", fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	s := string(out.Stdout)
	if s == "group=absent\n" {
		return "", nil
	}
	gid, ok := strings.CutPrefix(s, "gid=")
	gid, nl := strings.CutSuffix(gid, "\n")
	if !ok || !nl || gid == "" || strings.Trim(gid, "0123456789") != "" {
		return "", fmt.Errorf("malformed probe output %q", s)
	}
	return gid, nil
}

// Private is what Apply needs from the plan.
type Private struct {
	Op   string   `json:"op"` // groupadd, groupmod, groupdel
	Args []string `json:"args,omitempty"`
}

// Plan compares the probe's output with the desired group.
func (g *Group) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	gid, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.name, err)
	}
	exists := gid != ""
	switch {
	case g.absent && !exists, !g.absent && exists && (g.gid == "" || g.gid == gid):
		return &resource.Diff{Action: resource.NoOp}, nil
	case g.absent:
		return &resource.Diff{Action: resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: "present", New: "absent"}},
			Private: &Private{Op: "groupdel"}}, nil
	case exists:
		return &resource.Diff{Action: resource.Update,
			Changes: []resource.Change{{Field: "gid", Old: gid, New: g.gid}},
			Private: &Private{Op: "groupmod", Args: []string{"-g", g.gid}}}, nil
	}
	var ch []resource.Change
	priv := &Private{Op: "groupadd"}
	if g.system {
		ch = append(ch, resource.Change{Field: "system", New: "true"})
		priv.Args = append(priv.Args, "--system")
	}
	if g.gid != "" {
		ch = append(ch, resource.Change{Field: "gid", New: g.gid})
		priv.Args = append(priv.Args, "-g", g.gid)
	}
	return &resource.Diff{Action: resource.Create, Changes: ch, Private: priv}, nil
}

// Apply creates, changes or removes the group as the plan says.
func (g *Group) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("group %q: the plan carries no group changes", g.name)
	}
	var cmd strings.Builder
	switch priv.Op {
	case "groupadd", "groupmod", "groupdel":
		cmd.WriteString(priv.Op)
	default:
		return fmt.Errorf("group %q: unknown operation %q in the plan", g.name, priv.Op)
	}
	for _, a := range priv.Args {
		cmd.WriteString(" " + shellescape.Quote(a))
	}
	cmd.WriteString(" " + shellescape.Quote(g.name) + " </dev/null")
	res, err := h.Run(ctx, cmd.String(), nil)
	if err != nil {
		return fmt.Errorf("group %q: %w", g.name, err)
	}
	what := map[string]string{"groupadd": "creating", "groupmod": "changing", "groupdel": "removing"}[priv.Op]
	if err := res.Err(fmt.Sprintf("%s group %q", what, g.name)); err != nil {
		// groupdel's exit status 8: the primary group of an account.
		if priv.Op == "groupdel" && res.ExitCode == 8 {
			return fmt.Errorf("%w; remove or change that user first (this group should depend on its user resource)", err)
		}
		return err
	}
	return nil
}
