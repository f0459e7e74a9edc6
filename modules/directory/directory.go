// Package directory is the `directory` resource type: one directory, its
// mode and owner.
package directory

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func init() {
	resource.Register(&resource.Type{
		Name:    "directory",
		Summary: "A directory: its existence, mode and owner.",
		Doc: `Manages one directory on the target: that it exists (with missing parents created
by default, like ` + "`mkdir -p`" + `) and has the given mode, owner and group, or that it does
not exist.

The probe reads the directory's type, mode, owner and group with one ` + "`stat`" + `;
` + "`mode`, `owner` and `group`" + ` that are not set are left as they are on an existing
directory, and a new directory gets mode 0755 and root's ownership. A new directory
is created private (0700) and opened up to its final mode only after its owner is set.
Only the directory itself is managed: a recursive owner or mode for its contents is
not supported yet.

A symbolic link to a directory counts as the directory (its target's mode and owner
are managed). A file or anything else at ` + "`path`" + ` is an error at plan time.

With ` + "`state = \"absent\"`" + ` an empty directory is removed; a directory with anything in
it is an error at plan time unless ` + "`force = true`" + `, which removes it with all its
contents (` + "`rm -rf --one-file-system`" + `: file systems mounted below it are not entered,
and the removal then fails). A symbolic link at ` + "`path`" + ` is removed, never what it
points to.`,
		Example: `directory "render_spool" {
  path  = "/var/spool/render"
  mode  = "2770"
  owner = "render"
  group = "render"
}

directory "old_cache" {
  path  = "/var/cache/render-old"
  state = "absent"
  force = true
}`,
		Fields: []resource.Field{
			{Name: "path", Type: cty.String, Required: true,
				Doc: "Absolute path of the directory on the target."},
			{Name: "mode", Type: cty.String,
				Doc: "Permissions in octal, as a string: `\"0755\"`, `\"0700\"`, `\"2775\"` (setgid), `\"1777\"` (sticky). Unset: an existing directory keeps its mode, a new one gets 0755. Setgid and sticky bits not in the mode are cleared."},
			{Name: "owner", Type: cty.String,
				Doc: "Owning user, a name or a numeric uid. Unset: left as it is (root for a new directory)."},
			{Name: "group", Type: cty.String,
				Doc: "Owning group, a name or a numeric gid. Unset: left as it is (root for a new directory)."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`."},
			{Name: "parents", Type: cty.Bool, Default: cty.True,
				Doc: "Create missing parent directories (mode 0755, owned by root), like `mkdir -p`. When false, a missing parent fails the apply."},
			{Name: "force", Type: cty.Bool, Default: cty.False,
				Doc: "With `state = \"absent\"`, remove a directory that is not empty, with everything in it. Without it, a non-empty directory is an error at plan time."},
		},
		New: New,
	})
}

// Directory is one configured directory.
type Directory struct {
	path, parent string
	absent       bool
	mode         int // -1: unset
	owner, group string
	parents      bool
	force        bool
}

var (
	_ resource.Resource   = (*Directory)(nil)
	_ resource.Aggregator = (*Directory)(nil)
)

// New validates a directory block.
func New(cfg resource.Config) (resource.Resource, error) {
	d := &Directory{mode: -1, parents: cfg.Bool("parents"), force: cfg.Bool("force")}
	p := cfg.String("path")
	switch {
	case p == "":
		return nil, cfg.Errorf("path", "must not be empty")
	case strings.ContainsRune(p, 0):
		return nil, cfg.Errorf("path", "must not contain a NUL byte")
	case !strings.HasPrefix(p, "/"):
		return nil, cfg.Errorf("path", "must be an absolute path (starting with /), not %q", p)
	case p == "/":
		return nil, cfg.Errorf("path", "must not be / itself")
	case filepath.Clean(p) != p:
		return nil, cfg.Errorf("path", "must be a clean path: write %q, not %q", filepath.Clean(p), p)
	}
	d.path, d.parent = p, filepath.Dir(p)

	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		d.absent = true
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if cfg.IsSet("mode") {
		s := cfg.String("mode")
		m, err := parseOctal(s)
		if err != nil || len(s) < 3 || len(s) > 4 {
			return nil, cfg.Errorf("mode", "must be an octal mode of 3 or 4 digits like \"0755\", not %q", s)
		}
		d.mode = m
	}
	for _, n := range []string{"owner", "group"} {
		if !cfg.IsSet(n) {
			continue
		}
		if err := checkName(cfg.String(n)); err != nil {
			return nil, cfg.Errorf(n, "%v", err)
		}
	}
	d.owner, d.group = cfg.String("owner"), cfg.String("group")
	if d.absent {
		for _, n := range []string{"mode", "owner", "group"} {
			if cfg.IsSet(n) {
				return nil, cfg.Errorf(n, "has no effect with state = \"absent\"; remove it")
			}
		}
	} else if d.force {
		return nil, cfg.Errorf("force", "only applies to state = \"absent\"; remove it")
	}
	return d, nil
}

// Probe prints the directory's type and, for a directory, its metadata; for
// state = "absent" whether it is empty instead. One fork at most.
//
//	link=1
//	type=none|directory|other
//	stat=MODE UID GID USER GROUP
//	empty=0|1
func (d *Directory) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shellescape.Quote(d.path))
	b.WriteString(`if [ -L "$p" ]; then echo link=1; fi
if [ -d "$p" ]; then echo type=directory; elif [ -e "$p" ]; then echo type=other; exit 0; else echo type=none; exit 0; fi
`)
	if d.absent {
		// No process: the shell's own globbing finds any entry, dot files
		// included; a link is removed without looking inside.
		b.WriteString(`if [ -L "$p" ]; then exit 0; fi
set +f
e=1
for f in "$p"/* "$p"/.[!.]* "$p"/..?*; do
  if [ -e "$f" ] || [ -L "$f" ]; then e=0; break; fi
done
echo empty=$e
`)
		return b.String()
	}
	b.WriteString(`s=$(stat -L -c '%a %u %g %U %G' -- "$p" 2>/dev/null) || { echo error=stat; exit 1; }
echo "stat=$s"
`)
	return b.String()
}

type probe struct {
	link             bool
	typ              string
	stat             bool
	mode             int
	uid, gid         string
	user, group      string
	empty, haveEmpty bool
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		if strings.Contains(string(out.Stdout), "error=stat\n") {
			return nil, errors.New("cannot read its metadata on the target (stat failed)")
		}
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out.Stdout), "\n"), "\n") {
		if line == "" && len(out.Stdout) == 0 {
			break
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "link":
			p.link = v == "1"
		case "type":
			p.typ = v
		case "stat":
			fs := strings.Fields(v)
			if len(fs) != 5 || !isDigits(fs[1]) || !isDigits(fs[2]) {
				return nil, fmt.Errorf("malformed metadata %q in probe output", v)
			}
			m, err := parseOctal(fs[0])
			if err != nil {
				return nil, fmt.Errorf("malformed mode %q in probe output", fs[0])
			}
			p.stat, p.mode, p.uid, p.gid, p.user, p.group = true, m, fs[1], fs[2], fs[3], fs[4]
		case "empty":
			if v != "0" && v != "1" {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.empty, p.haveEmpty = v == "1", true
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	switch p.typ {
	case "none", "directory", "other":
	default:
		return nil, fmt.Errorf("malformed probe output: type %q", p.typ)
	}
	return p, nil
}

// Private is what Apply needs from the plan.
type Private struct {
	Create bool   `json:"create,omitempty"`
	Mode   string `json:"mode,omitempty"`  // for chmod, "" for no change
	Chown  string `json:"chown,omitempty"` // chown spec, "" for no change
	Remove string `json:"remove,omitempty"`
}

// Ways to remove.
const (
	removeLink  = "link"  // rm -f: a symbolic link
	removeEmpty = "empty" // rmdir
	removeAll   = "all"   // rm -rf (force)
)

// Plan compares the probe's output with the desired directory.
func (d *Directory) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("directory %q: %w", d.path, err)
	}
	if p.typ == "other" || (p.typ == "none" && p.link) {
		what := "exists but is not a directory"
		if p.link {
			what = "is a symbolic link that does not point to a directory"
		}
		return nil, fmt.Errorf("%q %s; remove it first (a file resource with state = \"absent\" does)", d.path, what)
	}
	if d.absent {
		return d.planAbsent(p)
	}
	if p.typ == "none" {
		mode := d.mode
		if mode < 0 {
			mode = 0o755
		}
		ch := []resource.Change{{Field: "mode", New: modeString(mode)}}
		if d.owner != "" {
			ch = append(ch, resource.Change{Field: "owner", New: d.owner})
		}
		if d.group != "" {
			ch = append(ch, resource.Change{Field: "group", New: d.group})
		}
		return &resource.Diff{Action: resource.Create, Changes: ch,
			Private: &Private{Create: true, Mode: modeString(mode), Chown: chownSpec(d.owner, d.group)}}, nil
	}
	if !p.stat {
		return nil, fmt.Errorf("directory %q: malformed probe output: no metadata", d.path)
	}
	var ch []resource.Change
	priv := &Private{}
	if d.mode >= 0 && d.mode != p.mode {
		ch = append(ch, resource.Change{Field: "mode", Old: modeString(p.mode), New: modeString(d.mode)})
		priv.Mode = modeString(d.mode)
	}
	var owner, group string
	if d.owner != "" && !sameID(d.owner, p.uid, p.user) {
		ch = append(ch, resource.Change{Field: "owner", Old: showID(p.uid, p.user), New: d.owner})
		owner = d.owner
	}
	if d.group != "" && !sameID(d.group, p.gid, p.group) {
		ch = append(ch, resource.Change{Field: "group", Old: showID(p.gid, p.group), New: d.group})
		group = d.group
	}
	if len(ch) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	priv.Chown = chownSpec(owner, group)
	return &resource.Diff{Action: resource.Update, Changes: ch, Private: priv}, nil
}

func (d *Directory) planAbsent(p *probe) (*resource.Diff, error) {
	switch {
	case p.typ == "none":
		return &resource.Diff{Action: resource.NoOp}, nil
	case p.link:
		return &resource.Diff{Action: resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: "symlink", New: "absent"}},
			Private: &Private{Remove: removeLink}}, nil
	case !p.haveEmpty:
		return nil, fmt.Errorf("directory %q: malformed probe output: emptiness unknown", d.path)
	case p.empty:
		return &resource.Diff{Action: resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: "present", New: "absent"}},
			Private: &Private{Remove: removeEmpty}}, nil
	case !d.force:
		return nil, fmt.Errorf("directory %q is not empty; set force = true to remove it with everything in it, or empty it first", d.path)
	}
	return &resource.Diff{Action: resource.Delete,
		Changes: []resource.Change{
			{Field: "state", Old: "present", New: "absent"},
			{Field: "contents", Old: "not empty", New: "removed (force)"},
		},
		Private: &Private{Remove: removeAll}}, nil
}

// Apply creates, changes or removes the directory as the plan says.
func (d *Directory) Apply(ctx context.Context, h resource.Runner, diff *resource.Diff) error {
	if diff.Empty() {
		return nil
	}
	priv, ok := diff.Private.(*Private)
	if !ok {
		return fmt.Errorf("directory %q: the plan carries no directory changes", d.path)
	}
	script, what := d.applyScript(priv)
	res, err := h.Run(ctx, script, nil)
	if err != nil {
		return err
	}
	return d.applyError(res, what)
}

// ApplyAll applies the directories of a host in one session, one subshell
// each, in order.
func (d *Directory) ApplyAll(ctx context.Context, h resource.Runner, rs []resource.Resource, ds []*resource.Diff) error {
	errs := make(resource.Errors, len(rs))
	var scripts, whats []string
	var todo []int
	for i, r := range rs {
		x, ok := r.(*Directory)
		if !ok {
			return fmt.Errorf("directory: ApplyAll given a %T", r)
		}
		if ds[i].Empty() {
			continue
		}
		priv, ok := ds[i].Private.(*Private)
		if !ok {
			errs[i] = fmt.Errorf("directory %q: the plan carries no directory changes", x.path)
			continue
		}
		script, what := x.applyScript(priv)
		scripts, whats, todo = append(scripts, script), append(whats, what), append(todo, i)
	}
	if len(todo) == 0 {
		return resource.ErrorsOrNil(errs)
	}
	results, err := resource.RunEach(ctx, h, scripts, nil)
	if err != nil {
		return err
	}
	for k, i := range todo {
		errs[i] = rs[i].(*Directory).applyError(results[k], whats[k])
	}
	return resource.ErrorsOrNil(errs)
}

// applyScript is the change as a script, and what it does in a word.
func (d *Directory) applyScript(priv *Private) (string, string) {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shellescape.Quote(d.path))
	what := "changing"
	switch {
	case priv.Remove == removeLink:
		what = "removing"
		b.WriteString("if [ ! -L \"$p\" ]; then exit 5; fi\nrm -f -- \"$p\"\n")
	case priv.Remove == removeEmpty:
		what = "removing"
		b.WriteString("if [ -L \"$p\" ]; then exit 5; fi\nrmdir -- \"$p\"\n")
	case priv.Remove == removeAll:
		what = "removing"
		b.WriteString("if [ -L \"$p\" ] || [ ! -d \"$p\" ]; then exit 5; fi\nrm -rf --one-file-system -- \"$p\"\n")
	case priv.Create:
		what = "creating"
		if d.parents {
			b.WriteString("umask 022\nmkdir -p -m 0700 -- \"$p\" || exit 1\n")
		} else {
			fmt.Fprintf(&b, "[ -d %s ] || exit 3\nmkdir -m 0700 -- \"$p\" || exit 1\n", shellescape.Quote(d.parent))
		}
		d.metadata(&b, priv)
	default:
		b.WriteString("if [ ! -d \"$p\" ]; then exit 5; fi\n")
		d.metadata(&b, priv)
	}
	return b.String(), what
}

func (d *Directory) applyError(res resource.Result, what string) error {
	switch res.ExitCode {
	case 3:
		return fmt.Errorf("cannot create %q: its parent %q does not exist; set parents = true or declare a directory resource for it", d.path, d.parent)
	case 5:
		return fmt.Errorf("%q has changed since the plan; plan again", d.path)
	}
	return res.Err(fmt.Sprintf("%s directory %q", what, d.path))
}

// metadata sets owner, then mode, so that a new directory stays private
// until both are final.
func (d *Directory) metadata(b *strings.Builder, priv *Private) {
	if priv.Chown != "" {
		fmt.Fprintf(b, "chown -- %s \"$p\" || exit 1\n", shellescape.Quote(priv.Chown))
	}
	if priv.Mode != "" {
		// A fifth, leading zero: GNU chmod keeps a directory's setuid and
		// setgid bits for a 4-digit mode, and clears them for this form.
		fmt.Fprintf(b, "chmod -- 0%s \"$p\" || exit 1\n", priv.Mode)
	}
}

func parseOctal(s string) (int, error) {
	if s == "" || strings.Trim(s, "01234567") != "" {
		return 0, fmt.Errorf("not octal: %q", s)
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("not a mode: %q", s)
	}
	return int(m), nil
}

func modeString(m int) string { return fmt.Sprintf("%04o", m) }

// checkName accepts a user or group name, or a numeric id; it rejects what
// chown would read as syntax (":") and what no account name holds.
func checkName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	// chown reads "." as the old OWNER.GROUP separator: "." or ".." would
	// silently change nothing.
	if s[0] == '-' || s[0] == '+' || s[0] == '.' {
		return fmt.Errorf("must not start with %q: %q", s[0], s)
	}
	if len(s) > 256 {
		return fmt.Errorf("is %d bytes long; no user or group name is longer than 256", len(s))
	}
	for _, r := range s {
		if r == ':' || r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("must be a user or group name or a numeric id, without %q: %q", r, s)
		}
	}
	return nil
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

func sameID(want, id, name string) bool {
	if isDigits(want) {
		return want == id
	}
	return want == name
}

func showID(id, name string) string {
	if name == "UNKNOWN" || name == "" {
		return id
	}
	return name
}

func idArg(s string) string {
	if isDigits(s) {
		return "+" + s
	}
	return s
}

func chownSpec(owner, group string) string {
	switch {
	case owner != "" && group != "":
		return idArg(owner) + ":" + idArg(group)
	case owner != "":
		return idArg(owner)
	case group != "":
		return ":" + idArg(group)
	}
	return ""
}
