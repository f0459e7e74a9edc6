// Package file is the `file` resource type: one regular file, its content
// and its metadata, written atomically.
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pinery/pinery/modules/internal/textdiff"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/pinery/pinery/engine/funcs"
	"github.com/pinery/pinery/engine/resource"
)

// maxDiff is the largest file whose current content the probe sends back so
// that the plan can show a unified diff; bigger files are compared by
// checksum only.
const maxDiff = 256 << 10

func init() {
	resource.Register(&resource.Type{
		Name:    "file",
		Summary: "A regular file: its content, mode and owner, written atomically.",
		Doc: `Manages one regular file on the target. Its content comes from exactly one of
` + "`content`" + ` (a string in the state), ` + "`source`" + ` (a file next to the state on the
controller, copied byte for byte, binary files included) or ` + "`template`" + ` (an HCL
template next to the state, rendered with ` + "`vars`" + `, the same syntax as
` + "`templatefile()`" + `).

The probe reads each file's type, mode, owner, group, size and SHA-256 on the target;
only when the checksum differs does it send back the current content (up to 256 KiB),
so the plan shows a unified diff. A converged file costs two small processes and no
transfer. ` + "`mode`, `owner` and `group`" + ` that are not set are left as they are on an
existing file; a new file gets mode 0644 (0600 when its content is sensitive: a secret is
never world-readable unless ` + "`mode`" + ` says so) and root's ownership.

Writes are atomic: the new content is streamed into a temporary file in the same
directory (created with mode 0600), checked against its SHA-256, flushed to disk, given
its final owner and mode, and only then renamed over the target. Readers see the old
file or the new one, never a partial one, and a failed write (a full disk, an unknown
owner, a dropped connection) leaves the old file untouched and no temporary file
behind. A change of mode or owner alone is applied in place, without rewriting the
content.

A symbolic link at ` + "`path`" + ` is replaced by a regular file; the file it pointed to is
left alone (pinery never writes through a link). A directory at ` + "`path`" + `, or anything
else that is not a regular file, is an error at plan time. Renaming gives the file a new
inode, so hard links to the old file keep the old content.

When the content is sensitive (a sensitive variable, a ` + "`vars`" + ` value marked
sensitive, or ` + "`sensitive = true`" + `) the plan shows that the content changes but
neither the content, its diff nor its checksum, and the probe never sends it back.`,
		Example: `file "nginx_site" {
  path     = "/etc/nginx/sites-available/render"
  template = "templates/render.conf.tpl"
  vars = {
    listen   = 8080
    backends = ["10.0.0.11:8000", "10.0.0.12:8000"]
  }
  mode  = "0644"
  owner = "root"
  group = "root"
}

file "api_token" {
  path    = "/etc/render/token"
  content = var.api_token # a sensitive variable: never shown in plans
  mode    = "0640"
  group   = "render"
}`,
		Fields: []resource.Field{
			{Name: "path", Type: cty.String, Required: true,
				Doc: "Absolute path of the file on the target."},
			{Name: "content", Type: cty.String,
				Doc: "The file's content, exactly (no newline is added). One of `content`, `source` or `template` is required when `state = \"present\"`."},
			{Name: "source", Type: cty.String,
				Doc: "Path of a file on the controller whose bytes become the content, relative to the directory of the declaring .hcl file. Read when the state is loaded."},
			{Name: "template", Type: cty.String,
				Doc: "Path of an HCL template on the controller (relative to the declaring .hcl file), rendered with `vars` and the function library; the result becomes the content."},
			{Name: "vars", Type: cty.DynamicPseudoType,
				Doc: "An object of variables for `template`: strings, numbers, lists, maps. If any value is sensitive, the rendered content is sensitive."},
			{Name: "mode", Type: cty.String,
				Doc: "Permissions in octal, as a string: `\"0644\"`, `\"0600\"`, `\"4755\"`. Unset: an existing file keeps its mode, a new file gets 0644, or 0600 when its content is sensitive."},
			{Name: "owner", Type: cty.String,
				Doc: "Owning user, a name or a numeric uid. Unset: left as it is (root for a new file)."},
			{Name: "group", Type: cty.String,
				Doc: "Owning group, a name or a numeric gid. Unset: left as it is (root for a new file)."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`. Absent removes the file (or a symbolic link at `path`); a directory there is an error."},
			{Name: "parents", Type: cty.Bool, Default: cty.False,
				Doc: "Create missing parent directories (mode 0755, owned by root). Off by default: a missing parent fails the apply; declare a `directory` resource for it when its mode or owner matter."},
			{Name: "validate", Type: cty.String,
				Doc: "A command that checks the new content before it replaces the file, with `%s` standing for the path of the new content (a temporary file in the same directory): `\"nginx -t -q -c %s\"`, `\"visudo -c -f %s\"`, `\"sshd -t -f %s\"`. Run by `sh` as the connecting user; when it fails the file is left as it was and the apply fails with the command's output. `%%` is a literal `%`. Like Ansible's `validate` and Salt's `check_cmd`."},
			{Name: "sensitive", Type: cty.Bool, Default: cty.False,
				Doc: "Treat the content as sensitive even when it is not marked so: for keys and certificates read from `source`. The plan then shows neither the content, its diff nor its checksum."},
		},
		New: New,
	})
}

// File is one configured file.
type File struct {
	path, dir string
	absent    bool
	content   string // shares the configured value's memory: not held twice
	sum       string // hex SHA-256 of content
	mode      int    // -1: unset
	owner     string // "" unset
	group     string
	parents   bool
	sensitive bool
	validate  string // shell command, %s already replaced by "$t"
}

var _ resource.Resource = (*File)(nil)

// New validates a file block and reads its source or template.
func New(cfg resource.Config) (resource.Resource, error) {
	f := &File{mode: -1, parents: cfg.Bool("parents")}
	var err error
	if f.path, err = checkPath(cfg.String("path")); err != nil {
		return nil, cfg.Errorf("path", "%v", err)
	}
	f.dir = filepath.Dir(f.path)

	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		f.absent = true
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if cfg.IsSet("mode") {
		if f.mode, err = parseMode(cfg.String("mode")); err != nil {
			return nil, cfg.Errorf("mode", "%v", err)
		}
	}
	for _, n := range []string{"owner", "group"} {
		if !cfg.IsSet(n) {
			continue
		}
		if err := checkName(cfg.String(n)); err != nil {
			return nil, cfg.Errorf(n, "%v", err)
		}
	}
	f.owner, f.group = cfg.String("owner"), cfg.String("group")
	if cfg.IsSet("validate") {
		if f.validate, err = validateCommand(cfg.String("validate")); err != nil {
			return nil, cfg.Errorf("validate", "%v", err)
		}
	}

	var set []string
	for _, n := range []string{"content", "source", "template"} {
		if cfg.IsSet(n) {
			set = append(set, n)
		}
	}
	if cfg.IsSet("vars") && !cfg.IsSet("template") {
		return nil, cfg.Errorf("vars", "vars are only used with template; render content with templatefile() or set template")
	}
	if f.absent {
		if len(set) > 0 {
			return nil, cfg.Errorf(set[0], "has no effect with state = \"absent\"; remove it")
		}
		for _, n := range []string{"mode", "owner", "group"} {
			if cfg.IsSet(n) {
				return nil, cfg.Errorf(n, "has no effect with state = \"absent\"; remove it")
			}
		}
		return f, nil
	}
	switch len(set) {
	case 0:
		return nil, cfg.Errorf("content", "set exactly one of content, source or template (none is set)")
	case 1:
	default:
		return nil, cfg.Errorf(set[1], "set exactly one of content, source or template, not both %s and %s", set[0], set[1])
	}

	f.sensitive = cfg.Bool("sensitive") || cfg.IsSensitive(set[0])
	switch set[0] {
	case "content":
		v := cfg.Values["content"]
		if !v.IsKnown() {
			return nil, cfg.Errorf("content", "is not known until apply; a file's content must be known when planning")
		}
		f.content = v.AsString()
	case "source":
		p := controllerPath(cfg.BaseDir, cfg.String("source"))
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, cfg.Errorf("source", "cannot read %s: %v", p, unwrapPathError(err))
		}
		f.content = string(data)
	case "template":
		f.sensitive = f.sensitive || cfg.IsSensitive("vars")
		if f.content, err = render(cfg); err != nil {
			return nil, err
		}
	}
	s := sha256.Sum256([]byte(f.content))
	f.sum = hex.EncodeToString(s[:])
	return f, nil
}

func render(cfg resource.Config) (string, error) {
	p := controllerPath(cfg.BaseDir, cfg.String("template"))
	src, err := os.ReadFile(p)
	if err != nil {
		return "", cfg.Errorf("template", "cannot read %s: %v", p, unwrapPathError(err))
	}
	vars := map[string]cty.Value{}
	if v := cfg.Values["vars"]; v != cty.NilVal && !v.IsNull() {
		if !v.IsKnown() {
			return "", cfg.Errorf("vars", "are not known until apply; template variables must be known when planning")
		}
		if !v.Type().IsObjectType() && !v.Type().IsMapType() {
			return "", cfg.Errorf("vars", "must be an object like { name = \"value\" }, not %s", v.Type().FriendlyName())
		}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			vars[k.AsString()] = e
		}
	}
	out, diags := funcs.RenderTemplate(src, p, cfg.BaseDir, vars)
	if diags.HasErrors() {
		return "", cfg.Errorf("template", "%s", diags.Error())
	}
	if !out.IsWhollyKnown() {
		return "", cfg.Errorf("template", "the rendered content is not known until apply; template variables must be known when planning")
	}
	if out.IsNull() {
		return "", cfg.Errorf("template", "%s renders to null", p)
	}
	out, err = convert.Convert(out, cty.String)
	if err != nil {
		return "", cfg.Errorf("template", "%s renders to %s, not a string", p, out.Type().FriendlyName())
	}
	return out.AsString(), nil
}

func controllerPath(base, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Probe prints the file's type; for a regular file also its metadata and
// checksum and, when the checksum differs from the desired one and the file
// is small, its content in base64 (never for sensitive content).
//
// Output, one key=value per line:
//
//	link=1                     path is a symbolic link (then the rest is about its target)
//	type=none|directory|other|file
//	stat=MODE UID GID SIZE USER GROUP
//	sha256=HEX
//	base64=                    the rest of the output is the current content
func (f *File) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shellescape.Quote(f.path))
	b.WriteString(`if [ -L "$p" ]; then echo link=1; fi
if [ -d "$p" ]; then echo type=directory; exit 0; fi
if [ ! -e "$p" ]; then echo type=none; exit 0; fi
if [ ! -f "$p" ]; then echo type=other; exit 0; fi
echo type=file
`)
	if f.absent {
		return b.String()
	}
	b.WriteString(`s=$(stat -L -c '%a %u %g %s %U %G' -- "$p" 2>/dev/null) || { echo error=stat; exit 1; }
echo "stat=$s"
h=$(sha256sum 2>/dev/null <"$p") || { echo error=read; exit 1; }
h=${h%% *}
echo "sha256=$h"
`)
	if !f.sensitive && textdiff.IsTextString(f.content) {
		fmt.Fprintf(&b, `set -f; IFS=' '; set -- $s
if [ "$h" != %s ] && [ "$4" -le %d ]; then echo base64=; base64 <"$p" || exit 1; fi
`, f.sum, maxDiff)
	}
	return b.String()
}

// probe is the parsed output of Probe.
type probe struct {
	link    bool
	typ     string
	mode    int
	uid     string
	gid     string
	size    int64
	user    string
	group   string
	sum     string
	content []byte
	fetched bool
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		return nil, probeFailed(out)
	}
	p := &probe{}
	rest := out.Stdout
	var haveStat bool
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		k, v, ok := strings.Cut(string(line), "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "link":
			p.link = v == "1"
		case "type":
			p.typ = v
		case "stat":
			if err := p.parseStat(v); err != nil {
				return nil, err
			}
			haveStat = true
		case "sha256":
			if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
				return nil, fmt.Errorf("malformed checksum %q in probe output", v)
			}
			p.sum = v
		case "base64":
			c, err := decodeBase64(rest)
			if err != nil {
				return nil, fmt.Errorf("malformed content in probe output: %v", err)
			}
			p.content, p.fetched, rest = c, true, nil
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	switch p.typ {
	case "none", "directory", "other":
	case "file":
		// A probe for state = "absent" stops here; one for "present" must
		// say more, which Plan checks.
		if p.sum != "" && !haveStat {
			return nil, errors.New("malformed probe output: checksum without metadata")
		}
	default:
		return nil, fmt.Errorf("malformed probe output: file type %q", p.typ)
	}
	return p, nil
}

func (p *probe) parseStat(v string) error {
	fs := strings.Fields(v)
	if len(fs) != 6 {
		return fmt.Errorf("malformed metadata %q in probe output", v)
	}
	m, err := parseOctal(fs[0])
	if err != nil {
		return fmt.Errorf("malformed mode %q in probe output", fs[0])
	}
	var size int64
	if _, err := fmt.Sscan(fs[3], &size); err != nil || size < 0 {
		return fmt.Errorf("malformed size %q in probe output", fs[3])
	}
	if !isDigits(fs[1]) || !isDigits(fs[2]) {
		return fmt.Errorf("malformed owner %q in probe output", v)
	}
	p.mode, p.uid, p.gid, p.size, p.user, p.group = m, fs[1], fs[2], size, fs[4], fs[5]
	return nil
}

// probeFailed explains a probe's non-zero exit.
func probeFailed(out resource.ProbeResult) error {
	for _, line := range strings.Split(string(out.Stdout), "\n") {
		switch line {
		case "error=stat":
			return errors.New("cannot read its metadata on the target (stat failed)")
		case "error=read":
			return errors.New("cannot read it on the target (is it readable by root, or on a root-squashed NFS mount?)")
		}
	}
	return fmt.Errorf("probe failed with exit status %d", out.ExitCode)
}

// Private is what Apply needs from the plan. It holds no content.
type Private struct {
	Write  bool   `json:"write,omitempty"`  // write the content atomically
	Mode   string `json:"mode,omitempty"`   // final mode, for chmod
	Chown  string `json:"chown,omitempty"`  // chown spec, "" for none
	Delete bool   `json:"delete,omitempty"` // remove the path
}

// Plan compares the probe's output with the desired file.
func (f *File) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("file %q: %w", f.path, err)
	}
	switch p.typ {
	case "directory":
		return nil, fmt.Errorf("%q is a directory (or a link to one), not a file; use a directory resource or choose another path", f.path)
	case "other":
		return nil, fmt.Errorf("%q exists but is not a regular file (a device, fifo or socket); remove it first", f.path)
	}
	if f.absent {
		if p.typ == "none" && !p.link {
			return &resource.Diff{Action: resource.NoOp}, nil
		}
		old := "file"
		if p.link {
			old = "symlink"
		}
		return &resource.Diff{
			Action:  resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: old, New: "absent"}},
			Private: &Private{Delete: true},
		}, nil
	}
	if p.typ == "file" && p.sum == "" {
		return nil, fmt.Errorf("file %q: malformed probe output: no checksum", f.path)
	}

	if p.typ == "none" || p.link {
		return f.planNew(p), nil
	}

	var ch []resource.Change
	priv := &Private{}
	d := &resource.Diff{Action: resource.Update, Private: priv}
	if p.sum != f.sum {
		priv.Write = true
		ch = append(ch, f.contentChange(p))
		d.TextDiff = f.textDiff(p)
	}
	mode := p.mode
	if f.mode >= 0 && f.mode != p.mode {
		ch = append(ch, resource.Change{Field: "mode", Old: modeString(p.mode), New: modeString(f.mode)})
		mode = f.mode
	}
	var chown bool
	owner, group := "+"+p.uid, "+"+p.gid
	if f.owner != "" && !sameID(f.owner, p.uid, p.user) {
		ch = append(ch, resource.Change{Field: "owner", Old: showID(p.uid, p.user), New: f.owner})
		owner, chown = idArg(f.owner), true
	}
	if f.group != "" && !sameID(f.group, p.gid, p.group) {
		ch = append(ch, resource.Change{Field: "group", Old: showID(p.gid, p.group), New: f.group})
		group, chown = idArg(f.group), true
	}
	if len(ch) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	d.Changes = ch
	switch {
	case priv.Write:
		// A new inode: carry every attribute over, changed or not. The
		// temporary file is root's already.
		priv.Mode = modeString(mode)
		if owner+":"+group != "+0:+0" {
			priv.Chown = owner + ":" + group
		}
	default:
		if mode != p.mode {
			priv.Mode = modeString(mode)
		}
		if chown {
			priv.Chown = chownSpec(f.owner, f.group)
		}
	}
	return d, nil
}

// planNew plans a file where there is none, or only a symbolic link.
func (f *File) planNew(p *probe) *resource.Diff {
	d := &resource.Diff{Action: resource.Create}
	if p.link {
		// The link is replaced, whatever it points to.
		d.Action = resource.Update
		d.Changes = append(d.Changes, resource.Change{Field: "type", Old: "symlink", New: "file"})
	}
	if p.typ == "file" && p.sum == f.sum {
		// The link's target has the content already; the change is the type.
	} else {
		c := f.contentChange(p)
		if p.typ != "file" {
			c.Old = ""
		}
		d.Changes = append(d.Changes, c)
		if p.typ == "file" {
			d.TextDiff = f.textDiff(p)
		} else {
			d.TextDiff = f.textDiff(&probe{fetched: true})
		}
	}
	mode := f.mode
	switch {
	case mode >= 0:
	case f.sensitive:
		mode = 0o600 // a secret is not world-readable unless mode says so
	default:
		mode = 0o644
	}
	d.Changes = append(d.Changes, resource.Change{Field: "mode", New: modeString(mode)})
	if f.owner != "" {
		d.Changes = append(d.Changes, resource.Change{Field: "owner", New: f.owner})
	}
	if f.group != "" {
		d.Changes = append(d.Changes, resource.Change{Field: "group", New: f.group})
	}
	d.Private = &Private{Write: true, Mode: modeString(mode), Chown: chownSpec(f.owner, f.group)}
	return d
}

func (f *File) contentChange(p *probe) resource.Change {
	if f.sensitive {
		return resource.Change{Field: "content", Sensitive: true}
	}
	return resource.Change{Field: "content", Old: describe(p.size, p.sum), New: describe(int64(len(f.content)), f.sum)}
}

func describe(size int64, sum string) string {
	if len(sum) > 12 {
		sum = sum[:12]
	}
	unit := "bytes"
	if size == 1 {
		unit = "byte"
	}
	return fmt.Sprintf("%d %s, sha256 %s", size, unit, sum)
}

// textDiff is the unified diff from the probed content to the desired one,
// empty when either is unknown, binary or sensitive.
func (f *File) textDiff(p *probe) string {
	if f.sensitive || !p.fetched || len(f.content) > maxDiff || !textdiff.IsText(p.content) || !textdiff.IsTextString(f.content) {
		return ""
	}
	old := "/dev/null"
	if p.typ == "file" {
		old = textdiff.Label(f.path)
	}
	return unified(old, textdiff.Label(f.path), string(p.content), f.content)
}

// Apply writes, re-owns or removes the file as the plan says.
func (f *File) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("file %q: the plan carries no file changes", f.path)
	}
	var stdin io.Reader
	if priv.Write {
		stdin = strings.NewReader(f.content)
	}
	res, err := h.Run(ctx, f.applyScript(priv, false), stdin)
	if err != nil {
		return err
	}
	return f.applyError(priv, res)
}

// applyScript is the change as a script. Batched (ApplyAll), the content is
// one of several on stdin: the script reads exactly its own bytes, and
// skips them when it fails early, so the next file reads its own.
func (f *File) applyScript(priv *Private, batched bool) string {
	q := shellescape.Quote(f.path)
	switch {
	case priv.Delete:
		return "rm -f -- " + q
	case priv.Write:
		return f.writeScript(priv, batched)
	default:
		var b strings.Builder
		fmt.Fprintf(&b, "p=%s\nif [ -L \"$p\" ] || [ ! -f \"$p\" ]; then exit 5; fi\n", q)
		if priv.Chown != "" {
			fmt.Fprintf(&b, "chown -- %s \"$p\" || exit 1\n", shellescape.Quote(priv.Chown))
		}
		if priv.Mode != "" {
			fmt.Fprintf(&b, "chmod -- %s \"$p\" || exit 1\n", priv.Mode)
		}
		return b.String()
	}
}

// applyError turns the script's exit status into what went wrong.
func (f *File) applyError(priv *Private, res resource.Result) error {
	switch {
	case priv.Delete:
		return res.Err(fmt.Sprintf("removing %q", f.path))
	case !priv.Write:
		if res.ExitCode == 5 {
			return fmt.Errorf("%q is no longer a regular file since the plan; plan again", f.path)
		}
		return res.Err(fmt.Sprintf("setting owner and mode of %q", f.path))
	}
	switch res.ExitCode {
	case 3:
		return fmt.Errorf("cannot write %q: its directory %q does not exist; declare a directory resource for it (and depend on it) or set parents = true", f.path, f.dir)
	case 4:
		return fmt.Errorf("writing %q: the content arrived incomplete (checksum mismatch); the file was not changed", f.path)
	case 6:
		return fmt.Errorf("%s; %q was not changed", res.Err("the new content failed validate"), f.path)
	}
	err := res.Err(fmt.Sprintf("writing %q", f.path))
	if errors.Is(err, resource.ErrDiskFull) {
		// The temporary file took the space; the old file is whole.
		return fmt.Errorf("%w; %q was not changed", err, f.path)
	}
	return err
}

// writeScript is the atomic write: a temporary file in the target's
// directory, removed on any failure; content checked, flushed, owned and
// moded before the rename.
func (f *File) writeScript(priv *Private, batched bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nd=%s\n", shellescape.Quote(f.path), shellescape.Quote(f.dir))
	read, skip := `cat >"$t"`, ""
	if batched {
		// Exactly its own bytes, even when the write fails (a full disk):
		// what the failed cat left is drained for the next file.
		head := fmt.Sprintf("head -c %d", len(f.content))
		read = head + ` | { cat >"$t" || { cat >/dev/null; exit 1; }; }`
		skip = head + " >/dev/null; "
	}
	if f.parents {
		fmt.Fprintf(&b, "umask 022\nmkdir -p -- \"$d\" || { %sexit 1; }\n", skip)
	} else {
		fmt.Fprintf(&b, "[ -d \"$d\" ] || { %sexit 3; }\n", skip)
	}
	fmt.Fprintf(&b, `umask 077
t=$(mktemp -- "$d/.pinery-XXXXXXXXXX") || { %sexit 1; }
trap 'rm -f -- "$t"' EXIT
trap 'exit 1' HUP INT TERM
%s || exit 1
h=$(sha256sum <"$t") || exit 1
`, skip, read)
	fmt.Fprintf(&b, "[ \"${h%%%% *}\" = %s ] || exit 4\n", f.sum)
	if priv.Chown != "" {
		fmt.Fprintf(&b, "chown -- %s \"$t\" || exit 1\n", shellescape.Quote(priv.Chown))
	}
	fmt.Fprintf(&b, "chmod -- %s \"$t\" || exit 1\n", priv.Mode)
	if f.validate != "" {
		// In a subshell reading nothing: it must not eat the next file's
		// bytes on stdin, nor leave the script's variables changed.
		fmt.Fprintf(&b, "v=$( (%s) </dev/null 2>&1 ) || { printf '%%s\\n' \"$v\" >&2; exit 6; }\n", f.validate)
	}
	b.WriteString(`sync -- "$t" || exit 1
mv -f -T -- "$t" "$p" || exit 1
trap - EXIT
sync -- "$d" 2>/dev/null || :
`)
	return b.String()
}

// validateCommand puts "$t" (the temporary file) where the command says %s.
// Exactly one %s is required: a check that does not look at the new
// content would pass anything.
func validateCommand(cmd string) (string, error) {
	var b strings.Builder
	n := 0
	for i := 0; i < len(cmd); i++ {
		if cmd[i] != '%' {
			b.WriteByte(cmd[i])
			continue
		}
		if i+1 == len(cmd) {
			return "", fmt.Errorf("ends with a lone %%; write %%%% for a literal %%")
		}
		i++
		switch cmd[i] {
		case 's':
			b.WriteString(`"$t"`)
			n++
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("has %%%c; only %%s (the new content's path) and %%%% are known", cmd[i])
		}
	}
	if n == 0 {
		return "", fmt.Errorf("must contain %%s where the new content's path goes, e.g. \"nginx -t -q -c %%s\"")
	}
	return b.String(), nil
}
