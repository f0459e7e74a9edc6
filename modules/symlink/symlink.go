// Package symlink is the `symlink` resource type: one symbolic link and
// what it points to, replaced atomically.
package symlink

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func init() {
	resource.Register(&resource.Type{
		Name:    "symlink",
		Summary: "A symbolic link and its target, replaced atomically.",
		Doc: `Manages one symbolic link on the target: that ` + "`path`" + ` is a link pointing to
` + "`target`" + `, or that there is no link there.

The target is compared as written, like ` + "`readlink`" + ` shows it: ` + "`/srv/app/current`" + ` and
` + "`/srv/app/./current`" + ` are different targets. A relative target is relative to the link's
directory, as with ` + "`ln -s`" + `. The target need not exist (a dangling link is a link).

A link is created, or re-pointed, atomically: a new link is made under a temporary name
in the same directory (` + "`ln -s`" + `) and renamed over ` + "`path`" + ` (` + "`mv -T`" + `), so readers
see the old link or the new one, never none. This is the usual way to switch a release
(` + "`current -> releases/42`" + `). A link that points to a directory is replaced itself; nothing
is created inside the directory. The link's directory must exist.

A regular file (or a fifo, socket or device) at ` + "`path`" + ` is an error at plan time unless
` + "`force = true`" + `, which replaces it (atomically too). An empty directory is replaced only
with ` + "`force`" + `, removed first (so ` + "`path`" + ` is briefly missing); a directory with anything
in it is never replaced: remove it with a ` + "`directory`" + ` resource first.

With ` + "`state = \"absent\"`" + ` a link at ` + "`path`" + ` is removed, whatever it points to; what it
points to is never touched. A file at ` + "`path`" + ` is an error unless ` + "`force = true`" + `, which
removes it too (never a directory with anything in it).`,
		Example: `symlink "nginx_render" {
  path   = "/etc/nginx/sites-enabled/render"
  target = "../sites-available/render"
}

symlink "render_current" {
  path   = "/srv/render/current"
  target = "/srv/render/releases/${var.release}"
}

symlink "nginx_default" {
  path  = "/etc/nginx/sites-enabled/default"
  state = "absent"
}`,
		Fields: []resource.Field{
			{Name: "path", Type: cty.String, Required: true,
				Doc: "Absolute path of the link on the target."},
			{Name: "target", Type: cty.String,
				Doc: "What the link points to, exactly as `ln -s` would be given it: absolute, or relative to the link's directory. Required when `state = \"present\"`."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`."},
			{Name: "force", Type: cty.Bool, Default: cty.False,
				Doc: "Replace (or, with `state = \"absent\"`, remove) a regular file or an empty directory at `path`. A directory that is not empty is never replaced."},
		},
		New: New,
	})
}

// Symlink is one configured link.
type Symlink struct {
	path, dir string
	target    string
	absent    bool
	force     bool
}

var _ resource.Resource = (*Symlink)(nil)

// New validates a symlink block.
func New(cfg resource.Config) (resource.Resource, error) {
	s := &Symlink{force: cfg.Bool("force")}
	p := cfg.String("path")
	switch {
	case p == "":
		return nil, cfg.Errorf("path", "must not be empty")
	case strings.ContainsRune(p, 0):
		return nil, cfg.Errorf("path", "must not contain a NUL byte")
	case !strings.HasPrefix(p, "/"):
		return nil, cfg.Errorf("path", "must be an absolute path (starting with /), not %q", p)
	case p == "/":
		return nil, cfg.Errorf("path", "must name a link, not /")
	case filepath.Clean(p) != p:
		return nil, cfg.Errorf("path", "must be a clean path: write %q, not %q", filepath.Clean(p), p)
	}
	s.path, s.dir = p, filepath.Dir(p)

	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		s.absent = true
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if s.absent {
		if cfg.IsSet("target") {
			return nil, cfg.Errorf("target", "has no effect with state = \"absent\"; remove it")
		}
		return s, nil
	}
	if !cfg.IsSet("target") {
		return nil, cfg.Errorf("target", "is required with state = \"present\"")
	}
	s.target = cfg.String("target")
	switch {
	case s.target == "":
		return nil, cfg.Errorf("target", "must not be empty")
	case strings.ContainsRune(s.target, 0):
		return nil, cfg.Errorf("target", "must not contain a NUL byte")
	case strings.ContainsAny(s.target, "\n\r"):
		return nil, cfg.Errorf("target", "must not contain a line break")
	case len(s.target) >= 4096:
		return nil, cfg.Errorf("target", "is %d bytes long; Linux allows at most 4095", len(s.target))
	}
	return s, nil
}

// Probe prints what is at path. The target comes last and raw, so that no
// byte of it is lost to the shell.
//
//	type=none|file|other|directory
//	empty=0|1                    for a directory
//	type=link
//	target=TARGET
func (s *Symlink) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shellescape.Quote(s.path))
	// No process for the emptiness test: the shell's own globbing finds
	// any entry, dot files included.
	b.WriteString(`if [ -L "$p" ]; then printf 'type=link\ntarget='; readlink -- "$p" || exit 1; exit 0; fi
if [ -d "$p" ]; then
  echo type=directory
  set +f
  e=1
  for f in "$p"/* "$p"/.[!.]* "$p"/..?*; do
    if [ -e "$f" ] || [ -L "$f" ]; then e=0; break; fi
  done
  echo empty=$e
elif [ -f "$p" ]; then echo type=file
elif [ -e "$p" ]; then echo type=other
else echo type=none
fi
`)
	return b.String()
}

type probe struct {
	typ    string // none, file, other, directory, link
	target string
	empty  bool
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d (cannot read the link?)", out.ExitCode)
	}
	p := &probe{}
	rest := string(out.Stdout)
	haveEmpty := false
	for rest != "" {
		if t, ok := strings.CutPrefix(rest, "target="); ok {
			if !strings.HasSuffix(t, "\n") {
				return nil, errors.New("malformed probe output: truncated target")
			}
			p.target, rest = strings.TrimSuffix(t, "\n"), ""
			break
		}
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "type":
			p.typ = v
		case "empty":
			if v != "0" && v != "1" {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.empty, haveEmpty = v == "1", true
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	switch p.typ {
	case "none", "file", "other":
	case "link":
		if p.target == "" {
			return nil, errors.New("malformed probe output: link without target")
		}
	case "directory":
		if !haveEmpty {
			return nil, errors.New("malformed probe output: emptiness unknown")
		}
	default:
		return nil, fmt.Errorf("malformed probe output: type %q", p.typ)
	}
	return p, nil
}

// What Apply expects to find at path, as the plan saw it.
const (
	wasNone = "none"
	wasLink = "link"
	wasFile = "file" // a regular file or another non-directory
	wasDir  = "dir"  // an empty directory
)

// Private is what Apply needs from the plan.
type Private struct {
	Was       string `json:"was"`
	OldTarget string `json:"old_target,omitempty"` // for Was == "link"
	Remove    bool   `json:"remove,omitempty"`
}

// Plan compares the probe's output with the desired link.
func (s *Symlink) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("symlink %q: %w", s.path, err)
	}
	was, what := wasFile, "a regular file"
	switch p.typ {
	case "other":
		what = "a special file (fifo, socket or device)"
	case "directory":
		if !p.empty {
			return nil, fmt.Errorf("%q is a directory that is not empty; a symlink never replaces it: remove it first (a directory resource with state = \"absent\" and force = true)", s.path)
		}
		was, what = wasDir, "an empty directory"
	}
	if s.absent {
		switch p.typ {
		case "none":
			return &resource.Diff{Action: resource.NoOp}, nil
		case "link":
			return &resource.Diff{Action: resource.Delete,
				Changes: []resource.Change{{Field: "state", Old: "symlink to " + p.target, New: "absent"}},
				Private: &Private{Was: wasLink, OldTarget: p.target, Remove: true}}, nil
		}
		if !s.force {
			return nil, fmt.Errorf("%q is %s, not a symbolic link; set force = true to remove it", s.path, what)
		}
		return &resource.Diff{Action: resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: p.typ, New: "absent"}},
			Private: &Private{Was: was, Remove: true}}, nil
	}
	switch p.typ {
	case "none":
		return &resource.Diff{Action: resource.Create,
			Changes: []resource.Change{{Field: "target", New: s.target}},
			Private: &Private{Was: wasNone}}, nil
	case "link":
		if p.target == s.target {
			return &resource.Diff{Action: resource.NoOp}, nil
		}
		return &resource.Diff{Action: resource.Update,
			Changes: []resource.Change{{Field: "target", Old: p.target, New: s.target}},
			Private: &Private{Was: wasLink, OldTarget: p.target}}, nil
	}
	if !s.force {
		return nil, fmt.Errorf("%q is %s; set force = true to replace it with the link", s.path, what)
	}
	return &resource.Diff{Action: resource.Update,
		Changes: []resource.Change{{Field: "type", Old: p.typ, New: "symlink"}, {Field: "target", New: s.target}},
		Private: &Private{Was: was}}, nil
}

// Apply creates, re-points or removes the link as the plan says.
func (s *Symlink) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("symlink %q: the plan carries no symlink changes", s.path)
	}
	script, err := s.applyScript(priv)
	if err != nil {
		return err
	}
	res, err := h.Run(ctx, script, nil)
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case 3:
		return fmt.Errorf("cannot create the link %q: its directory %q does not exist; declare a directory resource for it (and depend on it)", s.path, s.dir)
	case 5:
		return fmt.Errorf("%q has changed since the plan; plan again", s.path)
	}
	what := "creating link"
	if priv.Remove {
		what = "removing"
	}
	return res.Err(fmt.Sprintf("%s %q", what, s.path))
}

// applyScript first checks that path still holds what the plan saw (exit
// 5 otherwise), so that a file that appeared since is never replaced
// without force.
func (s *Symlink) applyScript(priv *Private) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nd=%s\n", shellescape.Quote(s.path), shellescape.Quote(s.dir))
	switch priv.Was {
	case wasNone:
		b.WriteString("if [ -e \"$p\" ] || [ -L \"$p\" ]; then exit 5; fi\n")
	case wasLink:
		// $(...) drops trailing newlines; targets with line breaks are
		// refused by New, so that cannot make two targets equal.
		fmt.Fprintf(&b, "[ -L \"$p\" ] && [ \"$(readlink -- \"$p\")\" = %s ] || exit 5\n", shellescape.Quote(priv.OldTarget))
	case wasFile:
		b.WriteString("if [ -L \"$p\" ] || [ ! -e \"$p\" ] || [ -d \"$p\" ]; then exit 5; fi\n")
	case wasDir:
		// rmdir refuses a directory that got content since the plan.
		b.WriteString("if [ -L \"$p\" ] || [ ! -d \"$p\" ]; then exit 5; fi\nrmdir -- \"$p\" || exit 5\n")
	default:
		return "", fmt.Errorf("symlink %q: the plan has an unknown kind %q", s.path, priv.Was)
	}
	if priv.Remove {
		if priv.Was != wasDir {
			b.WriteString("rm -f -- \"$p\" || exit 1\n")
		}
		return b.String(), nil
	}
	// ln -s refuses an existing name, so the unsafe -u of mktemp cannot
	// clobber anything; the trap is set only once the name is ours.
	fmt.Fprintf(&b, `[ -d "$d" ] || exit 3
t=$(mktemp -u -- "$d/.pinery-XXXXXXXXXX") || exit 1
ln -s -- %s "$t" || exit 1
trap 'rm -f -- "$t"' EXIT
trap 'exit 1' HUP INT TERM
mv -f -T -- "$t" "$p" || exit 1
trap - EXIT
sync -- "$d" 2>/dev/null || :
`, shellescape.Quote(s.target))
	return b.String(), nil
}
