package aptrepo

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ulikunitz/xz"
)

// hashNames are the Release file's checksum sections, weakest first; they
// are also the directory names under by-hash/, where apt looks up the
// strongest one listed.
var hashNames = [4]string{"MD5Sum", "SHA1", "SHA256", "SHA512"}

// sums returns data's checksums in the order of hashNames.
func sums(data []byte) [4]string {
	m, s1, s256, s512 := md5.Sum(data), sha1.Sum(data), sha256.Sum256(data), sha512.Sum512(data)
	return [4]string{hex.EncodeToString(m[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s256[:]), hex.EncodeToString(s512[:])}
}

// packagesIndex is a Packages file: one stanza per package, sorted by
// name, version and architecture, each the control file plus where the
// .deb is and its checksums.
func packagesIndex(pkgs []*Package) []byte {
	sorted := append([]*Package(nil), pkgs...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Architecture < b.Architecture
	})
	var b bytes.Buffer
	for i, p := range sorted {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Control)
		fmt.Fprintf(&b, "Filename: %s\nSize: %d\nMD5sum: %s\nSHA1: %s\nSHA256: %s\nSHA512: %s\n",
			p.Filename, p.Size, p.MD5, p.SHA1, p.SHA256, p.SHA512)
	}
	return b.Bytes()
}

// indexes returns the files of dists/SUITE below the suite directory:
// COMPONENT/binary-ARCH/Packages{,.gz,.xz} for every component and
// architecture, empty ones included so that apt never misses one.
// Architecture: all packages are in every architecture's index.
func indexes(components map[string][]*Package, archs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for comp, pkgs := range components {
		for _, arch := range archs {
			var sel []*Package
			for _, p := range pkgs {
				if p.Architecture == arch || p.Architecture == "all" {
					sel = append(sel, p)
				}
			}
			plain := packagesIndex(sel)
			gz, err := gzipBytes(plain)
			if err != nil {
				return nil, err
			}
			xzb, err := xzBytes(plain)
			if err != nil {
				return nil, err
			}
			dir := comp + "/binary-" + arch + "/"
			out[dir+"Packages"], out[dir+"Packages.gz"], out[dir+"Packages.xz"] = plain, gz, xzb
		}
	}
	return out, nil
}

// gzipBytes compresses without a name or time in the header, so that the
// same index always gives the same file.
func gzipBytes(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func xzBytes(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Release is a suite's Release file.
type Release struct {
	Origin, Label, Suite, Codename string
	Date, ValidUntil               time.Time // ValidUntil zero: none
	Architectures, Components      []string
	AcquireByHash                  bool
	Files                          []IndexFile // sorted by Path
}

// IndexFile is one file a Release lists, relative to dists/SUITE.
type IndexFile struct {
	Path string
	Size int64
	Sums [4]string // in the order of hashNames
}

// releaseDate is the Date format of Debian's archive.
const releaseDate = "Mon, 02 Jan 2006 15:04:05 UTC"

// newRelease lists files (relative to dists/SUITE) with their checksums.
func newRelease(r Release, files map[string][]byte) *Release {
	r.Files = nil
	for p, data := range files {
		r.Files = append(r.Files, IndexFile{Path: p, Size: int64(len(data)), Sums: sums(data)})
	}
	sort.Slice(r.Files, func(i, j int) bool { return r.Files[i].Path < r.Files[j].Path })
	return &r
}

// Bytes prints the Release file.
func (r *Release) Bytes() []byte {
	var b bytes.Buffer
	field := func(k, v string) {
		if v != "" {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	field("Origin", r.Origin)
	field("Label", r.Label)
	field("Suite", r.Suite)
	field("Codename", r.Codename)
	field("Date", r.Date.UTC().Format(releaseDate))
	if !r.ValidUntil.IsZero() {
		field("Valid-Until", r.ValidUntil.UTC().Format(releaseDate))
	}
	field("Architectures", strings.Join(r.Architectures, " "))
	field("Components", strings.Join(r.Components, " "))
	if r.AcquireByHash {
		field("Acquire-By-Hash", "yes")
	}
	for i, name := range hashNames {
		b.WriteString(name + ":\n")
		for _, f := range r.Files {
			fmt.Fprintf(&b, " %s %8d %s\n", f.Sums[i], f.Size, f.Path)
		}
	}
	return b.Bytes()
}

// ParseRelease reads a Release file (the text of InRelease without its
// signature, or Release).
func ParseRelease(data []byte) (*Release, error) {
	p, err := ParseParagraph(string(data))
	if err != nil {
		return nil, fmt.Errorf("Release: %w", err)
	}
	r := &Release{
		Origin: p.Get("Origin"), Label: p.Get("Label"), Suite: p.Get("Suite"), Codename: p.Get("Codename"),
		Architectures: strings.Fields(p.Get("Architectures")), Components: strings.Fields(p.Get("Components")),
		AcquireByHash: p.Get("Acquire-By-Hash") == "yes",
	}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"Date", &r.Date}, {"Valid-Until", &r.ValidUntil}} {
		if v := p.Get(f.name); v != "" {
			t, err := parseReleaseDate(v)
			if err != nil {
				return nil, fmt.Errorf("Release: %s: %w", f.name, err)
			}
			*f.t = t
		}
	}
	byPath := map[string]*IndexFile{}
	for i, name := range hashNames {
		for _, line := range strings.Split(p.Get(name), "\n") {
			fs := strings.Fields(line)
			if len(fs) == 0 {
				continue
			}
			size, err := strconv.ParseInt(fs[1%len(fs)], 10, 64)
			if len(fs) != 3 || err != nil || size < 0 {
				return nil, fmt.Errorf("Release: %s: malformed line %q", name, truncate(line, 80))
			}
			f := byPath[fs[2]]
			if f == nil {
				f = &IndexFile{Path: fs[2], Size: size}
				byPath[fs[2]] = f
			} else if f.Size != size {
				return nil, fmt.Errorf("Release: %s has two sizes, %d and %d", fs[2], f.Size, size)
			}
			f.Sums[i] = strings.ToLower(fs[0])
		}
	}
	for _, f := range byPath {
		r.Files = append(r.Files, *f)
	}
	sort.Slice(r.Files, func(i, j int) bool { return r.Files[i].Path < r.Files[j].Path })
	return r, nil
}

func parseReleaseDate(v string) (time.Time, error) {
	for _, layout := range []string{releaseDate, time.RFC1123, time.RFC1123Z} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date like %q", v, releaseDate)
}
