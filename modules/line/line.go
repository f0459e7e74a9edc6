// Package line is the `line` resource type: one line in a file that is
// otherwise left as it is, edited on the controller and written atomically.
package line

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pinery/pinery/modules/internal/textdiff"

	"al.essio.dev/pkg/shellescape"
	"github.com/aymanbagabas/go-udiff"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// maxRead is the largest file a line edit reads: the whole file travels
// to the controller at every plan.
const maxRead = 1 << 20

// hidden stands for a sensitive old value, so that the plan shows that
// one line replaces another.
const hidden = "(sensitive)"

func init() {
	resource.Register(&resource.Type{
		Name:    "line",
		Summary: "One line in a file: replaced, inserted or removed; the rest of the file left alone.",
		Doc: `Ensures that one line is in a file, or that no line like it is, and leaves the rest
of the file as it is: for files a package owns, where a ` + "`file`" + ` resource would take over
the whole content (` + "`/etc/ssh/sshd_config`, `/etc/default/grub`" + `). The equivalent of
Ansible's ` + "`lineinfile`" + ` and Salt's ` + "`file.replace`" + ` with ` + "`append_if_not_found`" + `.

With ` + "`state = \"present\"`" + `:

1. if ` + "`match`" + ` is set and matches lines, the **last** matching line is replaced by
   ` + "`line`" + ` (the others are left alone);
2. otherwise, if a line equal to ` + "`line`" + ` is there already, nothing changes;
3. otherwise ` + "`line`" + ` is inserted after the last line matching ` + "`insert_after`" + `, or
   appended at the end when ` + "`insert_after`" + ` is not set or matches nothing.

With ` + "`state = \"absent\"`" + `, every line matching ` + "`match`" + ` and every line equal to ` + "`line`" + `
is removed.

For the edit to converge, ` + "`match`" + ` should match ` + "`line`" + ` itself: ` + "`match = \"^#?PermitRootLogin\"`" + `
with ` + "`line = \"PermitRootLogin no\"`" + `.

**Regular expressions** are Go's (RE2 syntax), matched against each line without its
line break, unanchored: write ` + "`^`" + ` and ` + "`$`" + ` to anchor. They read like POSIX extended
expressions (` + "`grep -E`" + `) for everyday patterns, ` + "`[[:space:]]`" + ` classes included, with these
differences: no back-references (` + "`\\1`" + `); ` + "`\\d`, `\\s`, `\\w`, `\\b`" + `, non-greedy ` + "`*?`" + ` and flags
like ` + "`(?i)`" + ` work; a backslash before an ordinary letter is an error rather than the letter.
Matching runs on the controller, never in a shell on the target, so no quoting applies.

**How.** The probe sends the file back (up to 1 MiB; a bigger file is an error), the
edit is computed on the controller, and the plan shows a unified diff of the file. The
whole new content is written atomically: into a temporary file in the same directory,
given the old file's owner and mode, checked, flushed and renamed over the file. Just
before the rename the file's SHA-256 is compared with the one the plan saw; if anyone
changed the file since, the apply fails with "changed since the plan; plan again" and
the file is left alone. The renamed file is a new inode: hard links to the old one keep
the old content, and ACLs or extended attributes are not carried over.

Line breaks are kept: lines are compared without them, a replaced line keeps its own
(` + "`\\n`" + ` or ` + "`\\r\\n`" + `), and an inserted line gets the file's (that of its first line). A file
whose last line has no line break gets one before a line is appended after it.

A symbolic link at ` + "`path`" + ` is followed: the file it points to is edited, the link stays.
A missing file is created (mode 0644, or 0600 when the line is sensitive, owned by root)
only with ` + "`create = true`" + `; otherwise the plan says the edit is known after apply (a
package installed by the same run may create the file), and the apply fails if the file
is still missing then.

When ` + "`line`" + ` is sensitive (a sensitive variable, or ` + "`sensitive = true`" + `) the plan shows
neither the line, the line it replaces nor a diff of the file.`,
		Example: `line "sshd_no_root" {
  path       = "/etc/ssh/sshd_config"
  match      = "^#?[[:space:]]*PermitRootLogin[[:space:]]"
  line       = "PermitRootLogin no"
  depends_on = [pkg.openssh_server]
}

line "render_host" {
  path         = "/etc/hosts"
  line         = "10.0.0.11 render-db"
  insert_after = "^127\\.0\\.1\\.1"
}

line "no_legacy_mount" {
  path  = "/etc/fstab"
  match = "[[:space:]]/mnt/legacy[[:space:]]"
  state = "absent"
}`,
		Fields: []resource.Field{
			{Name: "path", Type: cty.String, Required: true,
				Doc: "Absolute path of the file on the target."},
			{Name: "line", Type: cty.String,
				Doc: "The line, without a line break. Required when `state = \"present\"`; with `\"absent\"`, lines equal to it are removed."},
			{Name: "match", Type: cty.String,
				Doc: "A regular expression (Go RE2 syntax, close to `grep -E`): with `\"present\"` the last line matching it is replaced by `line`; with `\"absent\"` every line matching it is removed."},
			{Name: "insert_after", Type: cty.String,
				Doc: "A regular expression: when `line` has to be added, it goes after the last line matching this, or at the end of the file if none does. Only with `state = \"present\"`."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`."},
			{Name: "create", Type: cty.Bool, Default: cty.False,
				Doc: "Create the file (containing just `line`) when it does not exist. Its directory must exist. Only with `state = \"present\"`."},
			{Name: "sensitive", Type: cty.Bool, Default: cty.False,
				Doc: "Treat `line` as sensitive even when it is not marked so: the plan then shows neither the line, the line it replaces nor a diff."},
		},
		New: New,
	})
}

// Line is one configured line edit.
type Line struct {
	path      string
	edit      editor
	create    bool
	sensitive bool
}

var _ resource.Resource = (*Line)(nil)

// New validates a line block.
func New(cfg resource.Config) (resource.Resource, error) {
	l := &Line{create: cfg.Bool("create")}
	p := cfg.String("path")
	switch {
	case p == "":
		return nil, cfg.Errorf("path", "must not be empty")
	case strings.ContainsRune(p, 0):
		return nil, cfg.Errorf("path", "must not contain a NUL byte")
	case !strings.HasPrefix(p, "/"):
		return nil, cfg.Errorf("path", "must be an absolute path (starting with /), not %q", p)
	case p == "/":
		return nil, cfg.Errorf("path", "must name a file, not /")
	case filepath.Clean(p) != p:
		return nil, cfg.Errorf("path", "must be a clean path: write %q, not %q", filepath.Clean(p), p)
	}
	l.path = p

	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		l.edit.absent = true
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	l.sensitive = cfg.Bool("sensitive") || cfg.IsSensitive("line")
	if cfg.IsSet("line") {
		v := cfg.Values["line"]
		if !v.IsKnown() {
			return nil, cfg.Errorf("line", "is not known until apply; a line must be known when planning")
		}
		s := v.AsString()
		switch {
		case strings.ContainsAny(s, "\n\r"):
			// Never quote s: it may be sensitive.
			return nil, cfg.Errorf("line", "must be one line, without a line break; use one line resource per line, or a file resource")
		case strings.ContainsRune(s, 0):
			return nil, cfg.Errorf("line", "must not contain a NUL byte")
		}
		l.edit.line, l.edit.hasLine = s, true
	}
	for _, n := range []string{"match", "insert_after"} {
		if !cfg.IsSet(n) {
			continue
		}
		re, err := compile(cfg.String(n))
		if err != nil {
			return nil, cfg.Errorf(n, "%v", err)
		}
		if n == "match" {
			l.edit.match = re
		} else {
			l.edit.after = re
		}
	}
	if l.edit.absent {
		if cfg.IsSet("insert_after") {
			return nil, cfg.Errorf("insert_after", "has no effect with state = \"absent\"; remove it")
		}
		if l.create {
			return nil, cfg.Errorf("create", "has no effect with state = \"absent\"; remove it")
		}
		if !l.edit.hasLine && l.edit.match == nil {
			return nil, cfg.Errorf("match", "set match or line: state = \"absent\" removes the lines matching match or equal to line")
		}
	} else if !l.edit.hasLine {
		return nil, cfg.Errorf("line", "is required with state = \"present\"")
	}
	return l, nil
}

func compile(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, errors.New("must not be empty (it would match every line)")
	}
	re, err := regexp.Compile(s)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "escape sequence") {
			msg += " (Go RE2 syntax: no back-references like \\1; escape only punctuation)"
		}
		return nil, errors.New(msg)
	}
	return re, nil
}

// Probe prints what is at path and, for a regular file up to maxRead
// bytes, its content in base64. A link is followed (real= names its
// target).
//
//	link=1
//	real=PATH
//	type=none|directory|other|file
//	size=N                      the file is too big to read
//	base64=                     the rest of the output is the content
func (l *Line) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shellescape.Quote(l.path))
	fmt.Fprintf(&b, `if [ -L "$p" ]; then
  echo link=1
  r=$(readlink -f -- "$p") || { echo error=readlink; exit 1; }
  printf 'real=%%s\n' "$r"
fi
if [ -d "$p" ]; then echo type=directory; exit 0; fi
if [ ! -e "$p" ]; then echo type=none; exit 0; fi
if [ ! -f "$p" ]; then echo type=other; exit 0; fi
echo type=file
s=$(stat -L -c %%s -- "$p" 2>/dev/null) || { echo error=stat; exit 1; }
if [ "$s" -gt %d ]; then echo "size=$s"; exit 0; fi
echo base64=
base64 <"$p" || { echo; echo error=read; exit 1; }
`, maxRead)
	return b.String()
}

type probe struct {
	link    bool
	real    string
	typ     string
	size    int64
	content []byte
	fetched bool
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		for _, line := range strings.Split(string(out.Stdout), "\n") {
			switch line {
			case "error=readlink":
				return nil, errors.New("cannot resolve the symbolic link at it (a loop, or a missing directory on the way)")
			case "error=stat", "error=read":
				return nil, errors.New("cannot read it on the target (is it readable by root, or on a root-squashed NFS mount?)")
			}
		}
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{size: -1}
	rest := out.Stdout
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
		case "real":
			p.real = v
		case "type":
			p.typ = v
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("malformed size %q in probe output", v)
			}
			p.size = n
		case "base64":
			c, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(rest, []byte("\n"), nil)))
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
		if !p.fetched && p.size < 0 {
			return nil, errors.New("malformed probe output: no content")
		}
	default:
		return nil, fmt.Errorf("malformed probe output: file type %q", p.typ)
	}
	if p.link && !strings.HasPrefix(p.real, "/") {
		return nil, fmt.Errorf("malformed probe output: link target %q", p.real)
	}
	return p, nil
}

// Private is what Apply needs from the plan. It holds checksums, not
// content, so that it can be saved; the new content rides along unsaved.
type Private struct {
	Path     string `json:"path"` // the file written: path, or where its link points
	Link     bool   `json:"link,omitempty"`
	Exists   bool   `json:"exists,omitempty"`
	OldSum   string `json:"old_sha256,omitempty"`
	NewSum   string `json:"new_sha256,omitempty"`
	Deferred bool   `json:"deferred,omitempty"` // the file was missing: edit at apply
	content  []byte
}

// Plan reads the probed file, edits it and diffs the result.
func (l *Line) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("line in %q: %w", l.path, err)
	}
	switch p.typ {
	case "directory":
		return nil, fmt.Errorf("%q is a directory (or a link to one), not a file", l.path)
	case "other":
		return nil, fmt.Errorf("%q is not a regular file (a device, fifo or socket)", l.path)
	}
	target := l.path
	if p.link {
		target = p.real
	}
	priv := &Private{Path: target, Link: p.link}
	if p.typ == "none" {
		switch {
		case l.edit.absent:
			return &resource.Diff{Action: resource.NoOp}, nil
		case p.link && l.create:
			return nil, fmt.Errorf("%q is a symbolic link to %q, which does not exist; pinery does not create a file through a link: create it, or point path at it", l.path, p.real)
		case !l.create:
			priv.Deferred = true
			return &resource.Diff{Action: resource.Update, Private: priv, Changes: []resource.Change{
				{Field: "line", New: "(known after apply): the file does not exist yet; set create = true to create it"},
			}}, nil
		}
	}
	if p.typ == "file" && !p.fetched {
		return nil, fmt.Errorf("%q is %d bytes, more than the %d a line edit reads; manage it with a file resource", l.path, p.size, maxRead)
	}

	res := l.edit.apply(string(p.content))
	if !res.changed && p.typ == "file" {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	priv.Exists = p.typ == "file"
	if priv.Exists {
		priv.OldSum = sum(p.content)
	}
	priv.content = []byte(res.content)
	priv.NewSum = sum(priv.content)

	d := &resource.Diff{Action: resource.Update, Private: priv}
	// A sensitive change carries no values: only a placeholder saying that
	// one line replaces another.
	ch := resource.Change{Field: "line", New: l.edit.line}
	if !res.inserted {
		ch.Old = res.replaced
	}
	if l.sensitive {
		ch = resource.Change{Field: "line", Sensitive: true}
		if !res.inserted {
			ch.Old = hidden
		}
	}
	switch {
	case !priv.Exists:
		d.Action = resource.Create
	case res.removed > 0:
		d.Action = resource.Delete
		unit := "lines"
		if res.removed == 1 {
			unit = "line"
		}
		ch = resource.Change{Field: "lines", Old: fmt.Sprintf("%d matching %s", res.removed, unit), New: "removed"}
	}
	d.Changes = []resource.Change{ch}
	if !l.sensitive && textdiff.IsText(p.content) && textdiff.IsText(priv.content) {
		old := textdiff.Label(l.path)
		if !priv.Exists {
			old = "/dev/null"
		}
		d.TextDiff = udiff.Unified(old, textdiff.Label(l.path), string(p.content), res.content)
	}
	return d, nil
}

// Apply writes the edited file. A file that was missing at plan time is
// probed and edited again now.
func (l *Line) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("line in %q: the plan carries no line changes", l.path)
	}
	if priv.Deferred || priv.content == nil {
		res, err := h.Run(ctx, "LC_ALL=C; export LC_ALL\n(\n"+l.Probe()+"\n) </dev/null", nil)
		if err != nil {
			return err
		}
		now, err := l.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
		if err != nil {
			return err
		}
		np, _ := now.Private.(*Private)
		switch {
		case now.Empty() && priv.Deferred:
			return nil
		case np != nil && np.Deferred:
			return fmt.Errorf("%q does not exist; set create = true to create it, or create it first (a file or pkg resource this one depends on)", l.path)
		case !priv.Deferred && (now.Empty() || np.OldSum != priv.OldSum || np.Path != priv.Path):
			// A saved plan, without the content: only the same file will do.
			return fmt.Errorf("%q has changed since the plan; plan again", l.path)
		}
		priv = np
	}
	res, err := h.Run(ctx, l.writeScript(priv), bytes.NewReader(priv.content))
	if err != nil {
		return err
	}
	if res.ExitCode == 5 && !priv.Deferred {
		// Changed since the plan: by another line resource of this run?
		if again, ok, err := l.replanOwn(ctx, h, priv); err != nil || ok {
			if err != nil || again == nil {
				return err
			}
			priv = again
			if res, err = h.Run(ctx, l.writeScript(priv), bytes.NewReader(priv.content)); err != nil {
				return err
			}
		}
	}
	if res.ExitCode == 0 {
		recordEdit(h, priv.Path, oldSum(priv), priv.NewSum)
	}
	switch res.ExitCode {
	case 3:
		return fmt.Errorf("cannot create %q: its directory %q does not exist; declare a directory resource for it (and depend on it)", priv.Path, filepath.Dir(priv.Path))
	case 4:
		return fmt.Errorf("writing %q: the content arrived incomplete (checksum mismatch); the file was not changed", priv.Path)
	case 5:
		return fmt.Errorf("%q has changed since the plan; plan again", l.path)
	}
	return res.Err(fmt.Sprintf("writing %q", priv.Path))
}

// replanOwn probes the file again after the write found it changed since
// the plan. When only this run's own edits changed it (another line of the
// same file), it returns the edit of the file as it is now (nil when there
// is nothing left to do) and true.
func (l *Line) replanOwn(ctx context.Context, h resource.Runner, priv *Private) (*Private, bool, error) {
	res, err := h.Run(ctx, "LC_ALL=C; export LC_ALL\n(\n"+l.Probe()+"\n) </dev/null", nil)
	if err != nil {
		return nil, false, err
	}
	p, err := parseProbe(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
	if err != nil || !(p.typ == "none" || p.typ == "file" && p.fetched) {
		return nil, false, nil
	}
	now := absent
	if p.typ != "none" {
		now = sum(p.content)
	}
	if !ownChange(h, priv.Path, oldSum(priv), now) {
		return nil, false, nil
	}
	d, err := l.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
	if err != nil || d.Empty() {
		return nil, err == nil, err
	}
	np, _ := d.Private.(*Private)
	if np == nil || np.Path != priv.Path {
		return nil, false, nil
	}
	return np, true, nil
}

func oldSum(priv *Private) string {
	if !priv.Exists {
		return absent
	}
	return priv.OldSum
}

// writeScript replaces the file atomically, and only if it is still what
// the plan read (exit 5): checked before the work and again just before
// the rename, which leaves the smallest window a shell can.
func (l *Line) writeScript(priv *Private) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nd=%s\n", shellescape.Quote(priv.Path), shellescape.Quote(filepath.Dir(priv.Path)))
	if priv.Link {
		fmt.Fprintf(&b, "[ -L %s ] && [ \"$(readlink -f -- %[1]s)\" = \"$p\" ] || exit 5\n", shellescape.Quote(l.path))
	}
	check := ""
	if priv.Exists {
		check = fmt.Sprintf("if [ -L \"$p\" ] || [ ! -f \"$p\" ]; then exit 5; fi\nh=$(sha256sum <\"$p\") || exit 1\n[ \"${h%%%% *}\" = %s ] || exit 5\n", priv.OldSum)
	} else {
		check = "if [ -e \"$p\" ] || [ -L \"$p\" ]; then exit 5; fi\n"
	}
	b.WriteString(check)
	b.WriteString(`[ -d "$d" ] || exit 3
umask 077
t=$(mktemp -- "$d/.pinery-XXXXXXXXXX") || exit 1
trap 'rm -f -- "$t"' EXIT
trap 'exit 1' HUP INT TERM
cat >"$t" || exit 1
h=$(sha256sum <"$t") || exit 1
`)
	fmt.Fprintf(&b, "[ \"${h%%%% *}\" = %s ] || exit 4\n", priv.NewSum)
	switch {
	case priv.Exists:
		// Owner before mode: chown clears setuid bits.
		b.WriteString("chown --reference=\"$p\" -- \"$t\" || exit 1\nchmod --reference=\"$p\" -- \"$t\" || exit 1\n")
	case l.sensitive:
		b.WriteString("chmod 0600 \"$t\" || exit 1\n")
	default:
		b.WriteString("chmod 0644 \"$t\" || exit 1\n")
	}
	b.WriteString("sync -- \"$t\" || exit 1\n")
	b.WriteString(check)
	b.WriteString(`mv -f -T -- "$t" "$p" || exit 1
trap - EXIT
sync -- "$d" 2>/dev/null || :
`)
	return b.String()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
