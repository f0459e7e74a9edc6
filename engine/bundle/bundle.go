// Package bundle packs a site for pull mode into a signed, versioned
// archive, and opens one again on a board, refusing anything that is not
// exactly what a trusted key signed.
//
// A bundle is two files: the archive (NAME.tar.gz: manifest.json first,
// then every file it lists, in order) and its detached signature
// (NAME.tar.gz.sig, a few lines of text). The signature covers the
// archive's SHA-256 and size, the bundle version and creation time, and the
// signing key's fingerprint, so a board checks it before it parses a byte
// of the archive; the manifest then pins every file's SHA-256 and mode.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Format is the manifest format this package writes and reads.
const Format = 1

// ManifestName is the archive's first entry.
const ManifestName = "manifest.json"

// Manifest describes a bundle: what it is and every file in it.
type Manifest struct {
	Format  int       `json:"format"`
	Version string    `json:"version"`
	Created time.Time `json:"created"`
	// Site is the site's ID in the backend (see backend.SiteOf), so that a
	// board's reports join the controller's history of the same site.
	Site   string   `json:"site"`
	Commit string   `json:"commit,omitempty"` // the site's git commit ("": not in git)
	Dirty  bool     `json:"dirty,omitempty"`
	Hosts  []string `json:"hosts"`  // the inventory hosts it was made for
	Pinery string   `json:"pinery"` // the version of pinery that made it
	// Notes say what was left out, and why (e.g. secrets for a host with
	// no age recipient).
	Notes []string `json:"notes,omitempty"`
	Files []Entry  `json:"files"`
}

// Entry is one file of a bundle.
type Entry struct {
	Path   string `json:"path"` // slash-separated, relative
	Mode   string `json:"mode"` // "0644" or "0755"
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// File is a file's content, in memory (sites are small; Limits bound it).
type File struct {
	Path string
	Exec bool // mode 0755 rather than 0644
	Data []byte
}

// Mode is the file's mode on disk.
func (f File) Mode() fs.FileMode {
	if f.Exec {
		return 0o755
	}
	return 0o644
}

// Limits bound what a reader accepts: an archive is hostile until proven
// otherwise, and a signed one may still be too large for a board.
type Limits struct {
	Archive  int64 // compressed bytes
	Files    int
	File     int64 // one file's bytes
	Total    int64 // all files' bytes, uncompressed
	Manifest int64
}

// DefaultLimits suit a site of states and templates on a 1 GB board.
var DefaultLimits = Limits{Archive: 128 << 20, Files: 20000, File: 64 << 20, Total: 256 << 20, Manifest: 8 << 20}

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$`)

// CheckVersion refuses a version string that is not a short token (it is
// a line of the signature and a column of the status).
func CheckVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("bundle version %q: use 1 to 64 letters, digits and . _ + ~ -, starting with a letter or digit", v)
	}
	return nil
}

// CheckPath refuses a file path that could escape the directory a bundle
// is unpacked into, or name something other than a plain file in it.
func CheckPath(p string) error {
	switch {
	case p == "" || len(p) > 1024:
		return fmt.Errorf("file path of %d bytes: want 1 to 1024", len(p))
	case !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("file path %q: not clean UTF-8 without backslashes", p)
	case !fs.ValidPath(p) || p == ".":
		return fmt.Errorf("file path %q: not a clean relative path (no leading /, no . or .. elements)", p)
	case p == ManifestName:
		return fmt.Errorf("file path %q: reserved for the manifest", p)
	}
	return nil
}

// entries describes files as the manifest lists them, sorted by path.
func entries(files []File) ([]Entry, error) {
	out := make([]Entry, 0, len(files))
	for _, f := range files {
		if err := CheckPath(f.Path); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(f.Data)
		out = append(out, Entry{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode()), Size: int64(len(f.Data)), SHA256: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	for i := 1; i < len(out); i++ {
		if out[i].Path == out[i-1].Path {
			return nil, fmt.Errorf("file %q twice", out[i].Path)
		}
	}
	return out, nil
}

// ErrDowngrade is the class of a refused older (replayed) bundle.
var ErrDowngrade = errors.New("older than the bundle applied last")

// Applied is what a board remembers of the last bundle it applied.
type Applied struct {
	Version string    `json:"version"`
	Created time.Time `json:"created"`
	SHA256  string    `json:"sha256"`
}

// CheckReplay refuses a bundle created before the one applied last, and a
// different bundle claiming the same creation time: an attacker who can
// serve files may replay any bundle ever signed, but only a newer one is
// taken (the same bundle again is a normal re-run).
func CheckReplay(last *Applied, s *Signature) error {
	if last == nil {
		return nil
	}
	sum := hex.EncodeToString(s.SHA256[:])
	switch {
	case s.Created.Before(last.Created):
		return fmt.Errorf("bundle %s (created %s) is %w, %s (created %s): refused as a possible replay; give --allow-downgrade to roll back on purpose",
			s.Version, s.Created.Format(time.RFC3339), ErrDowngrade, last.Version, last.Created.Format(time.RFC3339))
	case s.Created.Equal(last.Created) && sum != last.SHA256:
		return fmt.Errorf("bundle %s has the creation time of the bundle applied last (%s) but other content: refused as a possible replay (%w); give --allow-downgrade to take it",
			s.Version, last.Version, ErrDowngrade)
	}
	return nil
}
