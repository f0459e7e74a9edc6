// Package user is the `user` resource type: one local Unix account in
// /etc/passwd, /etc/shadow and /etc/group, managed with Debian's shadow
// tools (useradd, usermod, userdel, chpasswd).
package user

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const doc = `Manages one local account: that it exists with the given uid, primary group,
supplementary groups, home, shell, comment and password hash, or that it does not
exist. Only local accounts are managed (` + "`/etc/passwd`" + `, ` + "`/etc/group`" + `,
` + "`/etc/shadow`" + `); accounts that come from LDAP or another NSS source are not seen.

**Reading.** The probe reads ` + "`/etc/passwd`" + ` and ` + "`/etc/group`" + ` with the shell's own
` + "`read`" + ` (no process is started), and, only when ` + "`password_hash`" + ` is set, the
account's ` + "`/etc/shadow`" + ` entry, of which it prints a SHA-256 digest, never the hash
itself. Nothing is changed while planning.

**Planning.** The plan is field by field: ` + "`uid: 1001 → 1002`" + `,
` + "`shell: /bin/sh → /bin/bash`" + `, ` + "`groups: [adm] → [adm, video]`" + `. Fields that are
not set are left as they are on an existing account. A changed ` + "`password_hash`" + ` is
shown as a sensitive change, never with its value, in plans, JSON and errors.

**Applying.** A new account is created with ` + "`useradd`" + `, an existing one changed with
one ` + "`usermod`" + `, removed with ` + "`userdel`" + `. The password hash is passed to
` + "`chpasswd -e`" + ` on its standard input, so it never shows in the host's process list.

Behaviour worth knowing:

- **Groups are checked when applying, not when planning**: a group may be created by
  a ` + "`group`" + ` resource of the same run. A primary or supplementary group that does not
  exist when the account is applied fails it with a message naming the groups; list the
  ` + "`group`" + ` resources in the user's ` + "`depends_on`" + ` so that they are applied first.
- ` + "`groups`" + ` with ` + "`append = false`" + ` (the default) means *exactly* these supplementary
  groups: the account is removed from any other (` + "`groups = []`" + ` removes it from all).
  With ` + "`append = true`" + ` the account is added to the listed groups and kept in the others.
- Without ` + "`group`" + `, a new account gets a group of its own name, as Debian's
  ` + "`useradd`" + ` does; when a group of that name already exists (e.g. from a ` + "`group`" + `
  resource), that group becomes its primary group instead of an error.
- Changing ` + "`uid`" + ` of an existing account (` + "`usermod -u`" + `) also changes the owner of
  the files in its home directory, not elsewhere; it fails while the account has running
  processes. Changing ` + "`group`" + ` changes the account only, not its files' group.
- Changing ` + "`home`" + ` changes the account's entry only; the old directory's contents are
  not moved.
- ` + "`create_home`" + ` applies when the account is created (` + "`useradd -m`" + `, copying
  ` + "`/etc/skel`" + `). When set explicitly to true, a home directory that is missing on an
  existing account is also created (` + "`mkhomedir_helper`" + `). It defaults to true, and to
  false for ` + "`system`" + ` accounts.
- ` + "`system`" + ` only applies when the account is created (uid and group from the system
  range); it cannot be changed later and is ignored for an existing account.
- ` + "`password_hash`" + ` is enforced on every run, like Ansible's ` + "`update_password: always`" + `:
  a password changed on the host with ` + "`passwd`" + ` is set back. Unset, the password is
  left alone (a new account has none and cannot log in with a password).
- With ` + "`state = \"absent\"`" + ` the account is removed with ` + "`userdel`" + `, which also
  removes its own group when no other account uses it; ` + "`remove_home = true`" + ` also
  removes its home directory and mail spool. Removal fails while it has running processes.`

const example = `group "render" {
  name   = "render"
  system = true
}

user "render" {
  name       = "render"
  system     = true
  group      = "render"
  groups     = ["video"]
  home       = "/var/lib/render"
  shell      = "/usr/sbin/nologin"
  comment    = "Render workers"
  depends_on = [group.render]
}

user "alice" {
  name          = "alice"
  uid           = 1001
  groups        = ["sudo", "adm"]
  shell         = "/bin/bash"
  comment       = "Alice Liddell"
  password_hash = var.alice_password_hash # mkpasswd -m yescrypt
}

user "bob" {
  name        = "bob"
  state       = "absent"
  remove_home = true
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "user",
		Summary: "A local Unix account: uid, groups, home, shell, password hash (useradd/usermod/userdel).",
		Doc:     doc,
		Example: example,
		Fields: []resource.Field{
			{Name: "name", Type: cty.String, Required: true,
				Doc: "The login name: letters, digits, `_`, `.` and `-`, not starting with `-` or `.`, not all digits, at most 32 characters."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`."},
			{Name: "uid", Type: cty.Number,
				Doc: "The numeric user id. Unset: a new account gets the next free one (from the system range with `system = true`), an existing one keeps its own. A different uid of an existing account is changed with `usermod -u`."},
			{Name: "group", Type: cty.String,
				Doc: "The primary group, a name or a numeric gid; it must exist when the account is applied. Unset: a new account gets a group of its own name (or that group, if it exists already), an existing one keeps its own."},
			{Name: "groups", Type: cty.List(cty.String),
				Doc: "Supplementary groups, names or numeric gids; they must exist when the account is applied (`depends_on` their `group` resources). With `append = false`, exactly these: `[]` removes the account from every supplementary group. Unset: left as they are."},
			{Name: "append", Type: cty.Bool, Default: cty.False,
				Doc: "Add the account to `groups` and keep it in any others, instead of making its supplementary groups exactly `groups`."},
			{Name: "home", Type: cty.String,
				Doc: "The home directory, an absolute path. Unset: `/home/NAME` for a new account, left as it is on an existing one. A change does not move the old directory's contents."},
			{Name: "shell", Type: cty.String,
				Doc: "The login shell, an absolute path (`/bin/bash`, `/usr/sbin/nologin`). Unset: `/bin/sh` (Debian's default) for a new account, left as it is on an existing one."},
			{Name: "system", Type: cty.Bool, Default: cty.False,
				Doc: "Create a system account (`useradd --system`): uid and group from the system range, no home directory unless `create_home = true`. Only applies when the account is created."},
			{Name: "create_home", Type: cty.Bool,
				Doc: "Create the home directory (from `/etc/skel`) when the account is created. Set explicitly to true, it also creates the home directory of an existing account when it is missing. Unset: true, false for `system` accounts."},
			{Name: "comment", Type: cty.String,
				Doc: "The GECOS field (the account's full name). Unset: left as it is."},
			{Name: "password_hash", Type: cty.String, Sensitive: true,
				Doc: "The password, already hashed as `/etc/shadow` stores it (`mkpasswd -m yescrypt`, `openssl passwd -6`), or `\"!\"` for a locked password. Sensitive: never shown. Unset: left as it is."},
			{Name: "remove_home", Type: cty.Bool, Default: cty.False,
				Doc: "With `state = \"absent\"`, also remove the home directory and mail spool (`userdel -r`)."},
		},
		New: New,
	})
}

// User is one configured account.
type User struct {
	name       string
	absent     bool
	uid        string // "" unset
	group      string // name or gid, "" unset
	groups     []string
	setGroups  bool // groups set ([] is a value: no supplementary groups)
	append     bool
	home       string
	shell      string
	system     bool
	createHome bool
	forceHome  bool // create_home = true explicitly: also for an existing account
	comment    string
	setComment bool
	password   string // the hash; never printed
	remHome    bool
	sensitive  map[string]bool
}

var _ resource.Resource = (*User)(nil)

// New validates a user block.
func New(cfg resource.Config) (resource.Resource, error) {
	u := &User{
		name:      cfg.String("name"),
		append:    cfg.Bool("append"),
		system:    cfg.Bool("system"),
		remHome:   cfg.Bool("remove_home"),
		sensitive: map[string]bool{},
	}
	for k, v := range cfg.Sensitive {
		u.sensitive[k] = v
	}
	if err := checkName(u.name, "user"); err != nil {
		return nil, cfg.Errorf("name", "%v", err)
	}
	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		u.absent = true
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if u.absent {
		for _, f := range []string{"uid", "group", "groups", "home", "shell", "create_home", "comment", "password_hash"} {
			if cfg.IsSet(f) {
				return nil, cfg.Errorf(f, "has no effect with state = \"absent\"; remove it")
			}
		}
		for _, f := range []string{"append", "system"} {
			if cfg.Bool(f) {
				return nil, cfg.Errorf(f, "has no effect with state = \"absent\"; remove it")
			}
		}
		return u, nil
	}
	if u.remHome {
		return nil, cfg.Errorf("remove_home", "only applies to state = \"absent\"; remove it")
	}
	if cfg.IsSet("uid") {
		id, err := wholeID(cfg.Values["uid"])
		if err != nil {
			return nil, cfg.Errorf("uid", "%v", err)
		}
		u.uid = id
	}
	if cfg.IsSet("group") {
		u.group = cfg.String("group")
		if err := checkGroupRef(u.group); err != nil {
			return nil, cfg.Errorf("group", "%v", err)
		}
	}
	if cfg.IsSet("groups") {
		u.setGroups = true
		u.groups = []string{}
		seen := map[string]bool{}
		for _, g := range cfg.Strings("groups") {
			if err := checkGroupRef(g); err != nil {
				return nil, cfg.Errorf("groups", "%v", err)
			}
			if seen[g] {
				return nil, cfg.Errorf("groups", "lists %q twice; list each group once", g)
			}
			seen[g] = true
			u.groups = append(u.groups, g)
		}
	} else if u.append {
		return nil, cfg.Errorf("append", "only applies with groups; set groups or remove append")
	}
	if cfg.IsSet("home") {
		u.home = cfg.String("home")
		if err := checkPath(u.home); err != nil {
			return nil, cfg.Errorf("home", "%v", err)
		}
	}
	if cfg.IsSet("shell") {
		u.shell = cfg.String("shell")
		if err := checkPath(u.shell); err != nil {
			return nil, cfg.Errorf("shell", "%v", err)
		}
	}
	u.createHome = !u.system
	if cfg.IsSet("create_home") {
		u.createHome = cfg.Bool("create_home")
		u.forceHome = u.createHome
	}
	if cfg.IsSet("comment") {
		u.comment, u.setComment = cfg.String("comment"), true
		if i := strings.IndexFunc(u.comment, func(r rune) bool { return r == ':' || unicode.IsControl(r) }); i >= 0 {
			return nil, cfg.Errorf("comment", "must not contain %q (the GECOS field is one line of /etc/passwd, separated by colons); remove it", u.comment[i])
		}
	}
	if cfg.IsSet("password_hash") {
		u.password = cfg.String("password_hash")
		// The value is never quoted in an error, even a wrong one.
		if err := checkHash(u.password); err != nil {
			return nil, cfg.Errorf("password_hash", "%v", err)
		}
	}
	return u, nil
}

// nameRE is Debian's rule for account names (shadow's relaxed check and
// adduser's NAME_REGEX agree on this much) narrowed to what needs no shell
// quoting: no colon, comma, slash, whitespace or other metacharacter, no
// leading dash (an option) or dot ("." and ".." are paths).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)

func checkName(s, what string) error {
	switch {
	case s == "":
		return fmt.Errorf("must not be empty; give the %s's name", what)
	case !nameRE.MatchString(s):
		return fmt.Errorf("%q is not a valid %s name: use letters, digits, '_', '.' and '-', not starting with '-' or '.', at most 32 characters", s, what)
	case isDigits(s):
		return fmt.Errorf("%q is all digits, which tools read as a numeric id; use a name with a letter in it", s)
	}
	return nil
}

// checkGroupRef accepts a group name or a numeric gid.
func checkGroupRef(s string) error {
	if isDigits(s) {
		if _, err := strconv.ParseUint(s, 10, 32); err != nil || s == "4294967295" {
			return fmt.Errorf("gid %s is out of range: use 0 to 4294967294", s)
		}
		return nil
	}
	return checkName(s, "group")
}

func checkPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("must be an absolute path (starting with /), not %q", p)
	case strings.IndexFunc(p, func(r rune) bool { return r == ':' || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("must not contain a colon or control characters (it is a field of /etc/passwd): %q", p)
	case path.Clean(p) != p:
		return fmt.Errorf("must be a clean path: write %q, not %q", path.Clean(p), p)
	}
	return nil
}

// checkHash rejects what cannot be a crypt(3) hash as /etc/shadow holds it,
// mostly to catch a clear-text password given by mistake.
func checkHash(h string) error {
	switch {
	case h == "":
		return fmt.Errorf("must not be empty (that would allow logging in without a password); use \"!\" for a locked password")
	case strings.IndexFunc(h, func(r rune) bool {
		return r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII
	}) >= 0:
		return fmt.Errorf("is not a password hash: it contains a colon, a space or a character no hash has")
	case h[0] != '$' && h[0] != '!' && h[0] != '*':
		return fmt.Errorf("is not a password hash (it must start with \"$\", like those of mkpasswd -m yescrypt or openssl passwd -6, or be \"!\" for a locked password); give the hash, never the password itself")
	}
	return nil
}

// wholeID accepts a number that can be a uid or gid: 0 to 2^32-2
// (2^32-1 is (uid_t)-1, "no id").
func wholeID(v cty.Value) (string, error) {
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if !bf.IsInt() || acc != 0 || i < 0 || i > 4294967294 {
		return "", fmt.Errorf("must be a whole number from 0 to 4294967294, not %s", bf.Text('f', -1))
	}
	return strconv.FormatInt(i, 10), nil
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
