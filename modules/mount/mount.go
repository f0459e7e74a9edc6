// Package mount is the `mount` resource type: one /etc/fstab entry and
// whether its filesystem is mounted.
package mount

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/pinery/pinery/modules/internal/textdiff"

	"al.essio.dev/pkg/shellescape"
	"github.com/aymanbagabas/go-udiff"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// fstabPath is the file edited; a variable so that nothing else can be.
const fstabPath = "/etc/fstab"

// maxRead is the largest fstab the probe reads.
const maxRead = 1 << 20

func init() {
	resource.Register(&resource.Type{
		Name:    "mount",
		Summary: "An /etc/fstab entry and whether its filesystem is mounted.",
		Doc: `Manages the ` + "`/etc/fstab`" + ` entry of one mount point and, depending on ` + "`state`" + `, whether
the filesystem is mounted there:

| ` + "`state`" + `       | entry in /etc/fstab | mounted |
|---------------|---------------------|---------|
| ` + "`\"mounted\"`" + `   | yes                 | yes (the mount point is created if missing) |
| ` + "`\"present\"`" + `   | yes                 | left as it is |
| ` + "`\"unmounted\"`" + ` | yes                 | no |
| ` + "`\"absent\"`" + `    | no                  | no (the mount point directory is left) |

**The entry.** The entry of a mount point is the first line of ` + "`/etc/fstab`" + ` whose
second field is ` + "`path`" + `. It is compared field by field (so spacing and a missing
dump or pass field, which mean 0, do not count): when ` + "`source`" + `, ` + "`fstype`" + `, ` + "`options`" + `,
` + "`dump`" + ` and ` + "`pass`" + ` all match, the line is left byte for byte as it is; otherwise it is
replaced in place by a line pinery writes, fields separated by one space. Further lines
for the same mount point are removed (mount would use only one of them). A missing entry
is appended. Comments, blank lines and every other line are kept byte for byte. Spaces,
tabs and backslashes in a field are written as the octal escapes of fstab(5) (` + "`\\040`" + `). Fields must be valid UTF-8: the file is edited as text.

The plan shows a unified diff of ` + "`/etc/fstab`" + ` and, when the mounted state changes,
` + "`mounted: no → yes`" + `. The file is written atomically (a temporary file in ` + "`/etc`" + ` given
the old file's owner and mode, flushed, renamed over it), and only if it is still what
the plan read: otherwise the apply fails with "changed since the plan; plan again".

**Mounting** runs ` + "`mount PATH`" + `, which reads the entry just written, after creating the
mount point (` + "`mkdir -p`" + `); unmounting runs ` + "`umount PATH`" + `, before the entry is removed
(so a busy filesystem that cannot be unmounted leaves the entry in place). Their errors
are reported with the mount point and the reason ` + "`mount`" + ` gives. Whatever mount needs
(` + "`nfs-common`" + ` for NFS, the network, the device) must be there first: declare it and
depend on it.

A filesystem already mounted is **not remounted** when its entry changes: the new
options take effect at the next mount (unmount it with ` + "`state = \"unmounted\"`" + ` and mount
it again, or reboot). Whether a path is mounted is read from ` + "`/proc/self/mounts`" + `,
whatever is mounted there.`,
		Example: `mount "sopine01_root" {
  path    = "/srv/roots/sopine01"
  source  = "nas:/export/roots/sopine01"
  fstype  = "nfs"
  options = "rw,hard,noatime,_netdev"
  depends_on = [pkg.nfs_common]
}

mount "scratch" {
  path   = "/scratch"
  source = "UUID=3b1f6c1e-8a0e-4c1b-9d5a-2f7e0c9d1a42"
  fstype = "ext4"
  options = "defaults,noatime"
  pass   = 2
}

mount "legacy" {
  path  = "/mnt/legacy"
  state = "absent"
}`,
		Fields: []resource.Field{
			{Name: "path", Type: cty.String, Required: true,
				Doc: "The mount point: an absolute path, the second field of the fstab line."},
			{Name: "source", Type: cty.String,
				Doc: "What is mounted, the first field: a device (`/dev/sda1`), `UUID=…`, `LABEL=…`, `host:/export` for NFS. Required unless `state = \"absent\"`."},
			{Name: "fstype", Type: cty.String,
				Doc: "The filesystem type, the third field: `ext4`, `nfs`, `tmpfs`… Required unless `state = \"absent\"`."},
			{Name: "options", Type: cty.String, Default: cty.StringVal("defaults"),
				Doc: "Mount options, comma-separated, the fourth field."},
			{Name: "dump", Type: cty.Number, Default: resource.Num(0),
				Doc: "The fifth field (dump(8) frequency), 0 or more."},
			{Name: "pass", Type: cty.Number, Default: resource.Num(0),
				Doc: "The sixth field: the fsck pass at boot, 0 (never), 1 (the root filesystem) or 2."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("mounted"),
				Doc: "`\"mounted\"` (in fstab and mounted), `\"present\"` (in fstab, mounted or not), `\"unmounted\"` (in fstab, not mounted) or `\"absent\"` (not in fstab, not mounted)."},
		},
		New: New,
	})
}

const (
	stateMounted   = "mounted"
	statePresent   = "present"
	stateUnmounted = "unmounted"
	stateAbsent    = "absent"
)

// Mount is one configured mount point.
type Mount struct {
	path  string
	state string
	want  *entry // nil with state = "absent"
}

var _ resource.Resource = (*Mount)(nil)

// New validates a mount block.
func New(cfg resource.Config) (resource.Resource, error) {
	m := &Mount{}
	p := cfg.String("path")
	switch {
	case p == "":
		return nil, cfg.Errorf("path", "must not be empty")
	case strings.ContainsRune(p, 0):
		return nil, cfg.Errorf("path", "must not contain a NUL byte")
	case strings.ContainsAny(p, "\n\r"):
		return nil, cfg.Errorf("path", "must not contain a line break")
	case !utf8.ValidString(p):
		return nil, cfg.Errorf("path", "must be valid UTF-8: pinery edits /etc/fstab as text")
	case !strings.HasPrefix(p, "/"):
		return nil, cfg.Errorf("path", "must be an absolute path (starting with /), not %q; swap is not managed by mount", p)
	case p == "/":
		return nil, cfg.Errorf("path", "must not be / : the root filesystem is not managed by a mount resource")
	case filepath.Clean(p) != p:
		return nil, cfg.Errorf("path", "must be a clean path: write %q, not %q", filepath.Clean(p), p)
	}
	m.path = p

	switch st := cfg.String("state"); st {
	case stateMounted, statePresent, stateUnmounted, stateAbsent:
		m.state = st
	case "":
		m.state = stateMounted
	default:
		return nil, cfg.Errorf("state", "must be \"mounted\", \"present\", \"unmounted\" or \"absent\", not %q", st)
	}
	if m.state == stateAbsent {
		for _, f := range []string{"source", "fstype"} {
			if cfg.IsSet(f) {
				return nil, cfg.Errorf(f, "has no effect with state = \"absent\"; remove it")
			}
		}
		return m, nil
	}
	e := &entry{path: p}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"source", &e.source}, {"fstype", &e.fstype}, {"options", &e.options}} {
		if !cfg.IsSet(f.name) {
			return nil, cfg.Errorf(f.name, "is required with state = %q", m.state)
		}
		v := cfg.String(f.name)
		switch {
		case v == "":
			return nil, cfg.Errorf(f.name, "must not be empty")
		case strings.ContainsRune(v, 0):
			return nil, cfg.Errorf(f.name, "must not contain a NUL byte")
		case strings.ContainsAny(v, "\n\r"):
			return nil, cfg.Errorf(f.name, "must not contain a line break")
		case !utf8.ValidString(v):
			return nil, cfg.Errorf(f.name, "must be valid UTF-8: pinery edits /etc/fstab as text")
		case f.name != "source" && strings.ContainsAny(v, " \t\\"):
			return nil, cfg.Errorf(f.name, "must not contain spaces, tabs or backslashes, not %q", v)
		case f.name == "source" && strings.HasPrefix(v, "#"):
			return nil, cfg.Errorf(f.name, "must not start with # (the line would be a comment)")
		}
		*f.dst = v
	}
	for _, f := range []struct {
		name string
		dst  *int
		max  int64
	}{{"dump", &e.dump, 1 << 30}, {"pass", &e.pass, 2}} {
		v := cfg.Values[f.name]
		if v.IsKnown() && !v.IsNull() && !v.AsBigFloat().IsInt() {
			return nil, cfg.Errorf(f.name, "must be a whole number, not %s", v.AsBigFloat().String())
		}
		n := cfg.Int(f.name)
		if n < 0 || n > f.max {
			return nil, cfg.Errorf(f.name, "must be between 0 and %d, not %d", f.max, n)
		}
		*f.dst = int(n)
	}
	m.want = e
	return m, nil
}

// Probe prints the mount point's type, what is mounted there (from
// /proc/self/mounts, fields as written there: source and type) and, last,
// /etc/fstab in base64.
//
//	dir=none|dir|other
//	mnt=SOURCE TYPE             one line per mount on path
//	fstab=none|other|big
//	base64=                     the rest is the content of /etc/fstab
func (m *Mount) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nP=%s\nf=%s\n", shellescape.Quote(m.path), shellescape.Quote(escape(m.path)), fstabPath)
	fmt.Fprintf(&b, `if [ -d "$p" ]; then echo dir=dir; elif [ -e "$p" ] || [ -L "$p" ]; then echo dir=other; else echo dir=none; fi
P="$P" awk '$2 == ENVIRON["P"] { print "mnt=" $1 " " $3 }' /proc/self/mounts || { echo error=mounts; exit 1; }
if [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then echo fstab=other; exit 0; fi
if [ ! -e "$f" ]; then echo fstab=none; exit 0; fi
s=$(stat -c %%s -- "$f") || { echo error=stat; exit 1; }
if [ "$s" -gt %d ]; then echo fstab=big; exit 0; fi
echo base64=
base64 <"$f" || { echo; echo error=read; exit 1; }
`, maxRead)
	return b.String()
}

type probe struct {
	dir     string
	mounts  []string
	fstab   string // file, none, other, big
	content []byte
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		for _, line := range strings.Split(string(out.Stdout), "\n") {
			switch line {
			case "error=mounts":
				return nil, errors.New("cannot read /proc/self/mounts on the target")
			case "error=stat", "error=read":
				return nil, errors.New("cannot read /etc/fstab on the target")
			}
		}
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{}
	rest := out.Stdout
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		k, v, ok := strings.Cut(string(line), "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "dir":
			if v != "none" && v != "dir" && v != "other" {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.dir = v
		case "mnt":
			p.mounts = append(p.mounts, v)
		case "fstab":
			if v != "none" && v != "other" && v != "big" {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.fstab = v
		case "base64":
			c, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(rest, []byte("\n"), nil)))
			if err != nil {
				return nil, fmt.Errorf("malformed content in probe output: %v", err)
			}
			p.fstab, p.content, rest = "file", c, nil
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	if p.dir == "" || p.fstab == "" {
		return nil, errors.New("malformed probe output: truncated")
	}
	return p, nil
}

// Private is what Apply needs from the plan: checksums, not content, so
// that it can be saved; the new content rides along unsaved.
type Private struct {
	Write  bool   `json:"write,omitempty"`
	Exists bool   `json:"exists,omitempty"` // /etc/fstab existed
	OldSum string `json:"old_sha256,omitempty"`
	NewSum string `json:"new_sha256,omitempty"`
	Mount  bool   `json:"mount,omitempty"`
	Umount bool   `json:"umount,omitempty"`

	content []byte
}

// Plan edits the probed fstab and compares the mounted state.
func (m *Mount) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("mount %q: %w", m.path, err)
	}
	switch p.fstab {
	case "other":
		return nil, fmt.Errorf("%s is not a regular file (a symbolic link?); pinery edits only a regular /etc/fstab", fstabPath)
	case "big":
		return nil, fmt.Errorf("%s is more than %d bytes; that is not an fstab pinery edits", fstabPath, maxRead)
	}
	if !textdiff.IsText(p.content) {
		return nil, fmt.Errorf("%s is not a text file (it has a NUL byte or is not UTF-8); fix it by hand first", fstabPath)
	}
	mounted := len(p.mounts) > 0
	priv := &Private{Exists: p.fstab == "file"}
	d := &resource.Diff{Action: resource.NoOp, Private: priv}

	ed := editFstab(string(p.content), m.path, m.want)
	if ed.changed {
		priv.Write = true
		priv.content = []byte(ed.content)
		priv.NewSum = sum(priv.content)
		if priv.Exists {
			priv.OldSum = sum(p.content)
		}
		ch := resource.Change{Field: "fstab", Old: ed.old}
		switch {
		case m.want == nil:
			ch.New = "(removed)"
			d.Action = resource.Delete
		case !ed.found:
			ch.New = m.want.line()
			d.Action = resource.Create
		default:
			ch.New = m.want.line()
			d.Action = resource.Update
		}
		d.Changes = append(d.Changes, ch)
		old := fstabPath
		if !priv.Exists {
			old = "/dev/null"
		}
		d.TextDiff = udiff.Unified(old, fstabPath, string(p.content), ed.content)
	}
	switch m.state {
	case stateMounted:
		if p.dir == "other" {
			return nil, fmt.Errorf("the mount point %q exists and is not a directory; remove it or choose another path", m.path)
		}
		if !mounted {
			priv.Mount = true
		}
	case stateUnmounted, stateAbsent:
		priv.Umount = mounted
	}
	if priv.Mount || priv.Umount {
		ch := resource.Change{Field: "mounted", Old: "no", New: "yes"}
		if priv.Umount {
			ch.Old, ch.New = "yes", "no"
		}
		d.Changes = append(d.Changes, ch)
		if d.Action == resource.NoOp {
			d.Action = resource.Update
		}
	}
	if d.Action == resource.NoOp {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	return d, nil
}

// Apply unmounts, writes /etc/fstab and mounts, as the plan says: an
// unmount comes before the entry is removed, a mount after it is written.
func (m *Mount) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("mount %q: the plan carries no mount changes", m.path)
	}
	if priv.Write && priv.content == nil {
		// A saved plan, without the content: edit again, from the same file only.
		res, err := h.Run(ctx, "LC_ALL=C; export LC_ALL\n(\n"+m.Probe()+"\n) </dev/null", nil)
		if err != nil {
			return err
		}
		now, err := m.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
		if err != nil {
			return err
		}
		np, _ := now.Private.(*Private)
		if np == nil || !np.Write || np.OldSum != priv.OldSum || np.NewSum != priv.NewSum {
			return fmt.Errorf("%s has changed since the plan; plan again", fstabPath)
		}
		priv.content = np.content
	}
	q := shellescape.Quote(m.path)
	if priv.Umount {
		res, err := h.Run(ctx, "LC_ALL=C umount -- "+q, nil)
		if err != nil {
			return err
		}
		if err := res.Err(fmt.Sprintf("unmounting %q", m.path)); err != nil {
			return err
		}
	}
	if priv.Write {
		res, err := h.Run(ctx, writeScript(priv), bytes.NewReader(priv.content))
		if err != nil {
			return err
		}
		switch res.ExitCode {
		case 4:
			return fmt.Errorf("writing %s: the content arrived incomplete (checksum mismatch); the file was not changed", fstabPath)
		case 5:
			return fmt.Errorf("%s has changed since the plan; plan again", fstabPath)
		}
		if err := res.Err("writing " + fstabPath); err != nil {
			return err
		}
	}
	if priv.Mount {
		res, err := h.Run(ctx, "LC_ALL=C; export LC_ALL\nmkdir -p -- "+q+" || exit 3\nmount -- "+q, nil)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("mounting %q", m.path)
		if res.ExitCode == 3 {
			what = fmt.Sprintf("creating the mount point %q", m.path)
		}
		if err := res.Err(what); err != nil {
			return err
		}
	}
	return nil
}

// writeScript replaces /etc/fstab atomically, and only if it is still
// what the plan read (exit 5): checked before the work and again just
// before the rename.
func writeScript(priv *Private) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nd=%s\n", fstabPath, filepath.Dir(fstabPath))
	check := "if [ -e \"$p\" ] || [ -L \"$p\" ]; then exit 5; fi\n"
	if priv.Exists {
		check = fmt.Sprintf("if [ -L \"$p\" ] || [ ! -f \"$p\" ]; then exit 5; fi\nh=$(sha256sum <\"$p\") || exit 1\n[ \"${h%%%% *}\" = %s ] || exit 5\n", priv.OldSum)
	}
	b.WriteString(check)
	b.WriteString(`umask 077
t=$(mktemp -- "$d/.pinery-XXXXXXXXXX") || exit 1
trap 'rm -f -- "$t"' EXIT
trap 'exit 1' HUP INT TERM
cat >"$t" || exit 1
h=$(sha256sum <"$t") || exit 1
`)
	fmt.Fprintf(&b, "[ \"${h%%%% *}\" = %s ] || exit 4\n", priv.NewSum)
	if priv.Exists {
		b.WriteString("chown --reference=\"$p\" -- \"$t\" || exit 1\nchmod --reference=\"$p\" -- \"$t\" || exit 1\n")
	} else {
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
