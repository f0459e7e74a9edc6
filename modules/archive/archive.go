// Package archive is the "archive" resource type: a tar or zip file from the
// controller, checked against its SHA-256 and unpacked into a directory on
// the target, once.
package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const doc = `Unpacks a tar or zip archive from the controller into a directory on the target,
once, like Ansible's ` + "`unarchive`" + ` and Salt's ` + "`archive.extracted`" + `. The archive is
streamed over the SSH session: the target needs no network access.

**Formats** follow the file name of ` + "`source`" + `: ` + "`.tar`" + `, ` + "`.tar.gz`" + `/` + "`.tgz`" + `,
` + "`.tar.xz`" + `/` + "`.txz`" + `, ` + "`.tar.bz2`" + `/` + "`.tbz2`" + ` and ` + "`.zip`" + `. GNU tar and gzip are on every
Debian system; ` + "`.tar.xz`" + ` needs ` + "`xz-utils`" + `, ` + "`.tar.bz2`" + ` needs ` + "`bzip2`" + ` and ` + "`.zip`" + ` needs
` + "`unzip`" + ` on the target, which a minimal Debian (and the test fleet's boards) lacks:
install it with a ` + "`package`" + ` resource and ` + "`depends_on`" + ` it. The plan notes a missing
program; the apply fails saying which one before touching the destination.

**Integrity.** ` + "`sha256`" + ` is required. When the state is loaded, the controller hashes
` + "`source`" + ` and refuses a file that does not match (a stale download, the wrong
version). At apply, the target stores the streamed bytes in a temporary file and checks
them against the same checksum before unpacking anything.

**Idempotence.** The archive counts as unpacked when ` + "`creates`" + ` exists, or, without
` + "`creates`" + `, when the marker file ` + "`<destination>/.pinery-archive-<first 12 hex digits of sha256>`" + `
exists; pinery writes the marker after a successful unpack. A new checksum (a new
version of the archive) means a new marker, so it is unpacked again; files that the new
version no longer has are left in place. The contents are not compared: changes made to
unpacked files on the target are not undone. When ` + "`creates`" + ` is set and still missing
after the unpack, the apply fails, since every later run would unpack again.

**Atomicity.** The archive is unpacked into a temporary directory
(` + "`.pinery-unpack-*`" + `) first: inside the destination when it exists, else beside it. A
checksum mismatch, a corrupt archive or a full disk stops there and leaves the
destination untouched. When the destination does not exist yet, it appears with one
rename, complete or not at all (missing parent directories are created, mode 0755). When
it exists, the unpacked tree is merged into it with hard links
(` + "`cp -al --remove-destination`" + `): each file is replaced by unlinking the old one and linking the
new one, so a running program keeps its old binary, but a reader may see a mix of old
and new files while the merge runs, and a file where the archive has a directory (or
the reverse) fails the merge halfway. Stop services that read the destination, or
unpack each version into its own directory and switch a ` + "`symlink`" + `, when that matters.

**Ownership.** Files get the modes stored in the archive (as root, the umask is not
applied) and root's ownership: owners recorded in the archive are ignored. With
` + "`owner`" + ` and/or ` + "`group`" + `, everything unpacked (and the destination itself when pinery
creates it) is chowned (` + "`chown -R`" + `) before it is moved into place; an existing
destination directory and files already there that are not in the archive keep theirs.

Member names with ` + "`..`" + ` or a leading ` + "`/`" + ` cannot escape the temporary directory: GNU tar
and unzip refuse or strip them.`

const example = `archive "node_exporter" {
  source           = "files/node_exporter-1.8.2.linux-amd64.tar.gz"
  sha256           = "6809dd0b3ec45fd6e992c19071d6b5253aed3ead7bf0686885a51d85c6643c66"
  destination      = "/opt/node_exporter"
  strip_components = 1
  creates          = "/opt/node_exporter/node_exporter"
}

archive "webapp" {
  source      = "files/webapp-2.3.zip"
  sha256      = "c0ffee0000000000000000000000000000000000000000000000000000000000"
  destination = "/srv/webapp/releases/2.3"
  owner       = "webapp"
  group       = "webapp"
  depends_on  = [package.unzip]
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "archive",
		Summary: "A tar or zip archive from the controller, checked against its SHA-256 and unpacked into a directory once.",
		Doc:     doc,
		Example: example,
		Fields: []resource.Field{
			{Name: "source", Type: cty.String, Required: true,
				Doc: "Path of the archive on the controller, relative to the directory of the declaring .hcl file; its name gives the format (`.tar`, `.tar.gz`, `.tgz`, `.tar.xz`, `.txz`, `.tar.bz2`, `.tbz2`, `.zip`). Hashed when the state is loaded, streamed to the target at apply."},
			{Name: "sha256", Type: cty.String, Required: true,
				Doc: "The archive's SHA-256, 64 hex digits (`sha256sum FILE`). Checked on the controller when the state is loaded and on the target before unpacking."},
			{Name: "destination", Type: cty.String, Required: true,
				Doc: "Absolute directory to unpack into; created (with missing parents, mode 0755) when missing."},
			{Name: "creates", Type: cty.String,
				Doc: "Absolute path that exists once the archive is unpacked (a file it contains); replaces the marker file. Must exist after the unpack."},
			{Name: "owner", Type: cty.String,
				Doc: "User (a name or a numeric uid) that gets everything unpacked, with `chown -R`. Unset: root."},
			{Name: "group", Type: cty.String,
				Doc: "Group (a name or a numeric gid) that gets everything unpacked. Unset: root."},
			{Name: "strip_components", Type: cty.Number, Default: resource.Num(0),
				Doc: "Leading path components removed from member names, as tar's `--strip-components` (`app-1.2/bin/app` with 1 becomes `bin/app`). Tar formats only."},
		},
		New: New,
	})
}

// format is how an archive is unpacked and what it needs on the target.
type format struct {
	name  string
	tools []string // programs needed on the target
	flag  string   // tar's decompression flag
}

var formats = []struct {
	suffix string
	format
}{
	{".tar.gz", format{"tar.gz", []string{"tar", "gzip"}, "-z"}},
	{".tgz", format{"tar.gz", []string{"tar", "gzip"}, "-z"}},
	{".tar.xz", format{"tar.xz", []string{"tar", "xz"}, "-J"}},
	{".txz", format{"tar.xz", []string{"tar", "xz"}, "-J"}},
	{".tar.bz2", format{"tar.bz2", []string{"tar", "bzip2"}, "-j"}},
	{".tbz2", format{"tar.bz2", []string{"tar", "bzip2"}, "-j"}},
	{".tar", format{"tar", []string{"tar"}, ""}},
	{".zip", format{"zip", []string{"unzip"}, ""}},
}

// formatOf finds the format from a file name.
func formatOf(name string) (format, bool) {
	l := strings.ToLower(name)
	for _, f := range formats {
		if strings.HasSuffix(l, f.suffix) {
			return f.format, true
		}
	}
	return format{}, false
}

// Archive is one archive unpacked on one host.
type Archive struct {
	src     string // controller path
	name    string // base name, for display
	size    int64
	sum     string
	format  format
	dest    string
	creates string
	marker  string // the path whose existence means unpacked
	owner   string
	group   string
	strip   int64
}

var _ resource.Resource = (*Archive)(nil)

// New validates an archive block and hashes its source.
func New(cfg resource.Config) (resource.Resource, error) {
	a := &Archive{
		sum:     strings.ToLower(strings.TrimSpace(cfg.String("sha256"))),
		owner:   cfg.String("owner"),
		group:   cfg.String("group"),
		strip:   cfg.Int("strip_components"),
		creates: cfg.String("creates"),
	}
	var err error
	if a.dest, err = checkPath(cfg.String("destination")); err != nil {
		return nil, cfg.Errorf("destination", "%v", err)
	}
	if cfg.IsSet("creates") {
		if a.creates, err = checkPath(a.creates); err != nil {
			return nil, cfg.Errorf("creates", "%v", err)
		}
		a.marker = a.creates
	}
	for _, n := range []string{"owner", "group"} {
		if cfg.IsSet(n) {
			if err := checkName(cfg.String(n)); err != nil {
				return nil, cfg.Errorf(n, "%v", err)
			}
		}
	}
	if len(a.sum) != 64 || strings.Trim(a.sum, "0123456789abcdef") != "" {
		return nil, cfg.Errorf("sha256", "must be 64 hex digits, as printed by sha256sum, not %q", cfg.String("sha256"))
	}
	if a.marker == "" {
		a.marker = path.Join(a.dest, ".pinery-archive-"+a.sum[:12])
	}

	src := cfg.String("source")
	if src == "" {
		return nil, cfg.Errorf("source", "must not be empty: give the archive's path, relative to this .hcl file")
	}
	a.name = filepath.Base(src)
	var ok bool
	if a.format, ok = formatOf(a.name); !ok {
		return nil, cfg.Errorf("source", "%q has no known archive extension: rename it to end in .tar, .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2, .tbz2 or .zip", a.name)
	}
	if a.strip < 0 || a.strip > 100 {
		return nil, cfg.Errorf("strip_components", "must be a number of path components from 0 to 100, not %d", a.strip)
	}
	if a.strip > 0 && a.format.name == "zip" {
		return nil, cfg.Errorf("strip_components", "is for tar archives only; unzip cannot strip components: repack the archive as a tar, or remove strip_components and unpack one level higher")
	}

	a.src = src
	if !filepath.IsAbs(a.src) {
		a.src = filepath.Join(cfg.BaseDir, a.src)
	}
	got, size, err := hashFile(a.src)
	if err != nil {
		return nil, cfg.Errorf("source", "cannot read %s: %v", a.src, err)
	}
	a.size = size
	if got != a.sum {
		return nil, cfg.Errorf("sha256", "%s has sha256 %s, not %s: the file is not the expected one (re-download it), or, if it is the version you mean, set sha256 = %q", a.src, got, a.sum, got)
	}
	return a, nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return "", 0, errors.New("not a regular file")
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkPath accepts an absolute, clean path other than "/".
func checkPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("must not be empty: give an absolute path such as \"/opt/app\"")
	case strings.ContainsRune(p, 0):
		return "", errors.New("must not contain a NUL byte; remove it")
	case !strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("must be an absolute path (starting with /), not %q", p)
	case p == "/":
		return "", errors.New("must not be / itself: give a directory below it")
	case path.Clean(p) != p:
		return "", fmt.Errorf("must be a clean path: write %q, not %q", path.Clean(p), p)
	}
	return p, nil
}

// checkName accepts a user or group name or a numeric id.
func checkName(s string) error {
	if s == "" {
		return errors.New("must not be empty: remove it, or give a name or a numeric id")
	}
	// chown reads "." as the old OWNER.GROUP separator: "." or ".." would
	// silently change nothing.
	if s[0] == '-' || s[0] == '+' || s[0] == '.' {
		return fmt.Errorf("must not start with %q: write the name or the bare number, not %q", s[0], s)
	}
	if len(s) > 256 {
		return fmt.Errorf("is %d bytes long; no user or group name is longer than 256", len(s))
	}
	for _, r := range s {
		if r == ':' || r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("must be a name or a numeric id, without %q: %q", r, s)
		}
	}
	return nil
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// chownSpec is chown's OWNER[:GROUP], numeric ids made explicit ("+1000").
func (a *Archive) chownSpec() string {
	id := func(s string) string {
		if isDigits(s) {
			return "+" + s
		}
		return s
	}
	switch {
	case a.owner != "" && a.group != "":
		return id(a.owner) + ":" + id(a.group)
	case a.owner != "":
		return id(a.owner)
	case a.group != "":
		return ":" + id(a.group)
	}
	return ""
}

// Probe prints, one per line:
//
//	dest=dir|none|other
//	done=1|0        the marker (or creates) exists
//	missing=PROG    for each program the format needs that is not installed
func (a *Archive) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "d=%s\nm=%s\n", shellescape.Quote(a.dest), shellescape.Quote(a.marker))
	b.WriteString(`if [ -d "$d" ]; then echo dest=dir; elif [ -e "$d" ] || [ -L "$d" ]; then echo dest=other; else echo dest=none; fi
if [ -e "$m" ] || [ -L "$m" ]; then echo done=1; else echo done=0; fi
`)
	fmt.Fprintf(&b, "for t in %s; do command -v \"$t\" >/dev/null 2>&1 || echo \"missing=$t\"; done\n", strings.Join(a.format.tools, " "))
	return b.String()
}

// Plan: nothing when unpacked, else an unpack.
func (a *Archive) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("archive %s: probe failed with exit status %d", a.dest, out.ExitCode)
	}
	var dest, done string
	var missing []string
	for _, line := range strings.Split(strings.TrimSuffix(string(out.Stdout), "\n"), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "dest":
			dest = v
		case "done":
			done = v
		case "missing":
			missing = append(missing, v)
		default:
			return nil, fmt.Errorf("archive %s: unreadable probe output line %q", a.dest, line)
		}
	}
	if (dest != "dir" && dest != "none" && dest != "other") || (done != "0" && done != "1") {
		return nil, fmt.Errorf("archive %s: unreadable probe output %q", a.dest, out.Stdout)
	}
	if dest == "other" {
		return nil, fmt.Errorf("archive destination %q exists but is not a directory: remove it, or choose another destination", a.dest)
	}
	if done == "1" {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	// The apply script looks at the destination again; the action only
	// tells whether it is new.
	d := &resource.Diff{Action: resource.Update}
	if dest == "none" {
		d.Action = resource.Create
	}
	d.Changes = append(d.Changes, resource.Change{Field: "unpack", New: fmt.Sprintf("%s (%s, %s, sha256 %s)", a.name, a.format.name, size(a.size), a.sum[:12])})
	if dest == "none" {
		d.Changes = append(d.Changes, resource.Change{Field: "destination", New: a.dest})
	}
	if len(missing) > 0 {
		d.Changes = append(d.Changes, resource.Change{Field: "needs", New: strings.Join(missing, ", ") + " (not installed now; checked again at apply)"})
	}
	return d, nil
}

func size(n int64) string {
	switch {
	case n == 1:
		return "1 byte"
	case n < 10<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 10<<20:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// Exit statuses of the apply script.
const (
	exitParent   = 3 // cannot create the destination's parent
	exitChecksum = 4 // the streamed bytes do not match
	exitNotDir   = 5 // the destination is not a directory
	exitTool     = 6 // a program is missing (named on stdout)
	exitUnpack   = 7 // tar or unzip failed
	exitCreates  = 8 // creates is missing after the unpack
	exitMerge    = 9 // moving into place failed
)

// script unpacks stdin. Nothing in the destination changes before the
// archive is verified and completely unpacked.
func (a *Archive) script() string {
	var b strings.Builder
	fmt.Fprintf(&b, "d=%s\nm=%s\n", shellescape.Quote(a.dest), shellescape.Quote(a.marker))
	fmt.Fprintf(&b, "for t in %s; do command -v \"$t\" >/dev/null 2>&1 || { cat >/dev/null; echo \"$t\"; exit %d; }; done\n", strings.Join(a.format.tools, " "), exitTool)
	fmt.Fprintf(&b, `umask 022
if [ -d "$d" ]; then new=; base=$d
elif [ -e "$d" ] || [ -L "$d" ]; then cat >/dev/null; exit %d
else new=1; base=$(dirname -- "$d"); mkdir -p -- "$base" || { cat >/dev/null; exit %d; }
fi
s=$(mktemp -d -- "$base/.pinery-unpack-XXXXXXXX") || { cat >/dev/null; exit 1; }
trap 'rm -rf -- "$s"' EXIT
trap 'exit 1' HUP INT TERM
cat >"$s/archive" || exit 1
h=$(sha256sum <"$s/archive") || exit 1
[ "${h%%%% *}" = %s ] || exit %d
mkdir -- "$s/root" || exit 1
`, exitNotDir, exitParent, a.sum, exitChecksum)
	if a.format.name == "zip" {
		fmt.Fprintf(&b, "unzip -q -o \"$s/archive\" -d \"$s/root\" </dev/null >&2 || exit %d\n", exitUnpack)
	} else {
		flags := "-x --no-same-owner"
		if a.format.flag != "" {
			flags += " " + a.format.flag
		}
		if a.strip > 0 {
			flags += fmt.Sprintf(" --strip-components=%d", a.strip)
		}
		fmt.Fprintf(&b, "tar %s -f \"$s/archive\" -C \"$s/root\" </dev/null || exit %d\n", flags, exitUnpack)
	}
	b.WriteString("rm -f -- \"$s/archive\"\n")
	if spec := a.chownSpec(); spec != "" {
		fmt.Fprintf(&b, "chown -R -h -- %s \"$s/root\" || exit 1\n", shellescape.Quote(spec))
	}
	fmt.Fprintf(&b, `if [ -n "$new" ]; then
  chmod 0755 "$s/root" && mv -T -- "$s/root" "$d" || exit %d
else
  chmod --reference="$d" -- "$s/root" && chown --reference="$d" -- "$s/root" && touch -r "$d" -- "$s/root" || exit 1
  cp -a -l --remove-destination -T -- "$s/root" "$d" || exit %d
fi
`, exitMerge, exitMerge)
	if a.creates != "" {
		fmt.Fprintf(&b, "[ -e \"$m\" ] || [ -L \"$m\" ] || exit %d\n", exitCreates)
	} else {
		fmt.Fprintf(&b, "printf '%%s\\n' %s >\"$m\" || exit 1\n", shellescape.Quote("unpacked "+a.name+" sha256 "+a.sum+" by pinery"))
	}
	b.WriteString("sync -f -- \"$d\" 2>/dev/null || :\n")
	return b.String()
}

// Apply streams the archive and unpacks it.
func (a *Archive) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	f, err := os.Open(a.src)
	if err != nil {
		return fmt.Errorf("archive %s: opening %s: %w", a.dest, a.src, err)
	}
	defer f.Close()
	res, err := h.Run(ctx, a.script(), f)
	if err != nil {
		return fmt.Errorf("archive %s: %w", a.dest, err)
	}
	switch res.ExitCode {
	case 0:
		return nil
	case exitParent:
		return res.Err(fmt.Sprintf("archive %s: creating the parent directory", a.dest))
	case exitChecksum:
		return fmt.Errorf("archive %s: the archive arrived with another checksum than sha256 %s (changed on the controller since the plan, or damaged in transit); nothing was unpacked", a.dest, a.sum)
	case exitNotDir:
		return fmt.Errorf("archive destination %q exists but is not a directory: remove it, or choose another destination", a.dest)
	case exitTool:
		tool := strings.TrimSpace(string(res.Stdout))
		return fmt.Errorf("archive %s: unpacking a %s archive needs %s on the target, which is not installed: add a package resource for %s and depends_on it", a.dest, a.format.name, tool, pkgOf(tool))
	case exitUnpack:
		return res.Err(fmt.Sprintf("archive %s: unpacking %s failed (the destination was not changed)", a.dest, a.name))
	case exitCreates:
		return fmt.Errorf("archive %s: unpacked %s, but creates %q still does not exist, so every run would unpack it again: set creates to a path the archive contains (mind strip_components), or remove it", a.dest, a.name, a.creates)
	case exitMerge:
		return res.Err(fmt.Sprintf("archive %s: moving the unpacked files into place", a.dest))
	}
	return res.Err(fmt.Sprintf("archive %s", a.dest))
}

// pkgOf names the Debian package of a program.
func pkgOf(tool string) string {
	switch tool {
	case "xz":
		return "xz-utils"
	}
	return tool
}
