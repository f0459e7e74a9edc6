package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5" //nolint:gosec // md5sums is dpkg's format, not a security check
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A .deb (deb(5)) is an ar archive of three members: debian-binary,
// control.tar.gz (the control file, md5sums, conffiles, maintainer
// scripts) and data.tar.gz (the files). pinery writes it itself, in the
// layout nfpm v2.45.2 gave it before: the same bytes for the same tree
// (TestDebSameAsNFPM). nfpm, a packager for many formats with changelogs,
// signing and templating, linked about 90 packages (a git implementation
// among them) into every pinery command for this one file format, and
// every command paid for them in memory (docs/performance.md,
// "Controller memory").

// debEntry is one item of the data archive.
type debEntry struct {
	dst   string      // absolute; a directory's ends with "/": "/usr/bin/"
	typ   byte        // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode  fs.FileMode // permissions and setuid, setgid, sticky
	src   string      // a file's path on the controller, a link's target
	data  []byte      // a file's content when it has no src
	mtime time.Time   // a file's; directories and links have the package's
	conf  bool        // a conffile
}

// debPackage is what writeDeb needs besides the entries.
type debPackage struct {
	spec    *debSpec
	arch    string
	mtime   time.Time         // of the archive's members, directories and links
	scripts map[string]string // maintainer script name → text
}

// writeDeb writes the .deb of entries (with the directories above them
// that are not entries themselves) to w.
func writeDeb(w io.Writer, p debPackage, entries []debEntry) error {
	entries = withParents(entries, p.mtime)
	data, md5sums, size, err := dataTarball(entries, p.mtime)
	if err != nil {
		return err
	}
	control, err := controlTarball(p, entries, md5sums, size)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "!<arch>\n"); err != nil {
		return err
	}
	for _, m := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", control}, {"data.tar.gz", data}} {
		if err := writeArMember(w, m.name, m.body, p.mtime); err != nil {
			return fmt.Errorf("writing %s: %w", m.name, err)
		}
	}
	return nil
}

// withParents adds the directories above the entries that are not entries
// (0755, root) and sorts them by path.
func withParents(entries []debEntry, mtime time.Time) []debEntry {
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.dst] = true
	}
	out := slices.Clone(entries)
	for _, e := range entries {
		for dir := path.Dir(strings.TrimSuffix(e.dst, "/")); dir != "/"; dir = path.Dir(dir) {
			if d := dir + "/"; !seen[d] {
				seen[d] = true
				out = append(out, debEntry{dst: d, typ: tar.TypeDir, mode: 0o755, mtime: mtime})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b debEntry) int { return strings.Compare(a.dst, b.dst) })
	return out
}

// dataTarball is data.tar.gz, the md5sums of its files and their total
// size.
func dataTarball(entries []debEntry, mtime time.Time) ([]byte, []byte, int64, error) {
	var buf, md5sums bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, nil, 0, err
	}
	tw := tar.NewWriter(zw)
	var size int64
	for _, e := range entries {
		h := &tar.Header{
			Typeflag: e.typ,
			Name:     "." + e.dst,
			ModTime:  mtime,
			Mode:     tarMode(e.mode),
			Uname:    "root",
			Gname:    "root",
			Format:   tar.FormatGNU,
		}
		switch e.typ {
		case tar.TypeDir:
			if err := tw.WriteHeader(h); err != nil {
				return nil, nil, 0, fmt.Errorf("create directory %q in data tar: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			h.Linkname = e.src
			if err := tw.WriteHeader(h); err != nil {
				return nil, nil, 0, fmt.Errorf("create symlink %q in data tar: %w", h.Name, err)
			}
		default:
			n, err := writeDebFile(tw, &md5sums, h, e)
			if err != nil {
				return nil, nil, 0, fmt.Errorf("write %q to data tar: %w", e.dst, err)
			}
			size += n
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, 0, fmt.Errorf("closing data.tar.gz: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, nil, 0, fmt.Errorf("closing data.tar.gz: %w", err)
	}
	return buf.Bytes(), md5sums.Bytes(), size, nil
}

// writeDebFile adds a file to the data archive and its line to md5sums.
func writeDebFile(tw *tar.Writer, md5sums io.Writer, h *tar.Header, e debEntry) (int64, error) {
	var r io.Reader = bytes.NewReader(e.data)
	h.Size = int64(len(e.data))
	if e.src != "" {
		f, err := os.Open(e.src)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		r, h.Size = f, st.Size()
	}
	h.ModTime = e.mtime
	if err := tw.WriteHeader(h); err != nil {
		return 0, err
	}
	sum := md5.New() //nolint:gosec
	if _, err := io.Copy(tw, io.TeeReader(r, sum)); err != nil {
		return 0, err
	}
	_, err := fmt.Fprintf(md5sums, "%x  %s\n", sum.Sum(nil), strings.TrimPrefix(e.dst, "/"))
	return h.Size, err
}

// tarMode is a tar header's mode of m: permissions and the setuid,
// setgid and sticky bits.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m & 0o7777)
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// controlTarball is control.tar.gz.
func controlTarball(p debPackage, entries []debEntry, md5sums []byte, size int64) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name string, body []byte, mode int64) error {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: "./" + name, Size: int64(len(body)), Mode: mode, ModTime: p.mtime, Format: tar.FormatGNU}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("cannot write header of %s file to control.tar.gz: %w", h.Name, err)
		}
		if _, err := tw.Write(body); err != nil {
			return fmt.Errorf("cannot write %s file to control.tar.gz: %w", h.Name, err)
		}
		return nil
	}
	if err := add("control", controlFile(p.spec, p.arch, size/1024), 0o644); err != nil {
		return nil, err
	}
	if err := add("md5sums", md5sums, 0o644); err != nil {
		return nil, err
	}
	var conf []string
	for _, e := range entries {
		if e.conf {
			conf = append(conf, e.dst)
		}
	}
	if len(conf) > 0 {
		if err := add("conffiles", []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(p.scripts))
	for name := range p.scripts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := add(name, []byte(p.scripts[name]), 0o755); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing control.tar.gz: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("closing control.tar.gz: %w", err)
	}
	return buf.Bytes(), nil
}

// controlFile is the control file (deb-control(5)); installedSize in KiB.
func controlFile(d *debSpec, arch string, installedSize int64) []byte {
	var b bytes.Buffer
	field := func(name, value string) { b.WriteString(name + ": " + value + "\n") }
	list := func(name string, items []string) {
		if len(items) > 0 {
			field(name, strings.Trim(strings.Join(items, ", "), " "))
		}
	}
	version := d.upstream
	if d.epoch != "" {
		version = d.epoch + ":" + version
	}
	field("Package", d.Name)
	field("Version", version)
	field("Section", d.Section)
	field("Priority", d.Priority)
	field("Architecture", arch)
	if d.Maintainer != "" {
		field("Maintainer", d.Maintainer)
	}
	field("Installed-Size", strconv.FormatInt(installedSize, 10))
	list("Replaces", d.Replaces)
	var provides []string
	for _, p := range d.Provides {
		if p = strings.TrimSpace(p); p != "" {
			provides = append(provides, p)
		}
	}
	list("Provides", provides)
	list("Depends", d.Depends)
	list("Recommends", d.Recommends)
	list("Suggests", d.Suggests)
	list("Conflicts", d.Conflicts)
	list("Breaks", d.Breaks)
	if d.Homepage != "" {
		field("Homepage", d.Homepage)
	}
	field("Description", multiline(d.Description))
	return b.Bytes()
}

// multiline is a Description's value: the synopsis, then each further
// line indented by one space, an empty one as " .".
func multiline(text string) string {
	var b strings.Builder
	s := bufio.NewScanner(strings.NewReader(strings.TrimSpace(text)))
	s.Scan()
	b.Write(bytes.TrimSpace(s.Bytes()))
	for s.Scan() {
		b.WriteString("\n ")
		if l := bytes.TrimSpace(s.Bytes()); len(l) == 0 {
			b.WriteByte('.')
		} else {
			b.Write(l)
		}
	}
	return b.String()
}

// writeArMember writes one member of an ar archive (common format: a
// 60-byte header, the body, a newline when its size is odd).
func writeArMember(w io.Writer, name string, body []byte, mtime time.Time) error {
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }
	hdr := pad(name, 16) + pad(strconv.FormatInt(mtime.Unix(), 10), 12) + pad("0", 6) + pad("0", 6) +
		pad("100644", 8) + pad(strconv.Itoa(len(body)), 10) + "`\n"
	if len(name) > 16 || len(hdr) != 60 {
		return fmt.Errorf("ar member name or size too long: %q", name)
	}
	if _, err := io.WriteString(w, hdr); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if len(body)%2 == 1 {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}
