package aptrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
)

// idTime is the time part of a snapshot ID; IDs sort by creation.
const idTime = "20060102T150405Z"

// suiteSpec is what one snapshot of a suite publishes.
type suiteSpec struct {
	Suite         string
	Origin, Label string
	Architectures []string
	Components    map[string][]*Package // every package with its Filename
	Date          time.Time
	ValidUntil    time.Time // zero: no Valid-Until
}

// release returns the suite's Release (without signatures) and the files
// it lists, relative to dists/SUITE.
func (s *suiteSpec) release() (*Release, map[string][]byte, error) {
	files, err := indexes(s.Components, s.Architectures)
	if err != nil {
		return nil, nil, err
	}
	var comps []string
	for c := range s.Components {
		comps = append(comps, c)
	}
	sort.Strings(comps)
	archs := append([]string(nil), s.Architectures...)
	sort.Strings(archs)
	rel := newRelease(Release{Origin: s.Origin, Label: s.Label, Suite: s.Suite, Codename: s.Suite,
		Date: s.Date, ValidUntil: s.ValidUntil, Architectures: archs, Components: comps, AcquireByHash: true}, files)
	return rel, files, nil
}

// entry is one thing a snapshot adds under the repository root: a file,
// a hard link to an earlier entry's Path, or a symbolic link.
type entry struct {
	Path     string
	Data     []byte
	HardLink string
	Symlink  string
}

// buildSnapshot signs the suite and returns the entries of
// snapshots/ID/: the pool link, dists/SUITE with its indexes, their
// by-hash names (hard links), Release, InRelease and Release.gpg.
func buildSnapshot(spec *suiteSpec, key *Key, existing []string) (id string, rel *Release, entries []entry, err error) {
	rel, files, err := spec.release()
	if err != nil {
		return "", nil, nil, err
	}
	relBytes := rel.Bytes()
	inRelease, err := key.ClearSign(relBytes, spec.Date)
	if err != nil {
		return "", nil, nil, err
	}
	detached, err := key.DetachSign(relBytes, spec.Date)
	if err != nil {
		return "", nil, nil, err
	}
	id = newID(spec.Date, relBytes, existing)
	root := "snapshots/" + id + "/"
	dists := root + "dists/" + spec.Suite + "/"
	entries = append(entries, entry{Path: root + "pool", Symlink: "../../pool"})
	for _, f := range rel.Files {
		entries = append(entries, entry{Path: dists + f.Path, Data: files[f.Path]})
	}
	for _, f := range rel.Files {
		for _, name := range byHashNames(f) {
			entries = append(entries, entry{Path: dists + name, HardLink: dists + f.Path})
		}
	}
	entries = append(entries,
		entry{Path: dists + "Release", Data: relBytes},
		entry{Path: dists + "InRelease", Data: inRelease},
		entry{Path: dists + "Release.gpg", Data: detached})
	return id, rel, entries, nil
}

// byHashNames are the by-hash paths of an index file, relative to
// dists/SUITE: DIR/by-hash/HASHNAME/HEX for every checksum listed.
func byHashNames(f IndexFile) []string {
	var out []string
	for i, name := range hashNames {
		if f.Sums[i] != "" {
			out = append(out, path.Join(path.Dir(f.Path), "by-hash", name, f.Sums[i]))
		}
	}
	return out
}

// newID names a snapshot by its time and Release checksum. A time not
// after the newest existing ID is moved one second past it, so that IDs
// always sort in the order snapshots were made.
func newID(now time.Time, release []byte, existing []string) string {
	t := now.UTC().Truncate(time.Second)
	for _, id := range existing {
		if len(id) < len(idTime) {
			continue
		}
		if prev, err := time.Parse(idTime, id[:len(idTime)]); err == nil && !t.After(prev) {
			t = prev.Add(time.Second)
		}
	}
	sum := sha256.Sum256(release)
	return t.Format(idTime) + "-" + hex.EncodeToString(sum[:4])
}

// writeEntries creates entries below root, each regular file synced, so
// that once the directory is renamed into place nothing in it is empty
// after a crash. Directories get mode 0755, files 0644.
func writeEntries(root string, entries []entry) error {
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch {
		case e.Symlink != "":
			if err := os.Symlink(e.Symlink, p); err != nil {
				return err
			}
		case e.HardLink != "":
			if err := os.Link(filepath.Join(root, filepath.FromSlash(e.HardLink)), p); err != nil {
				return err
			}
		default:
			if err := writeSynced(p, e.Data); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeSynced(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // whatever the umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// carryByHash links the index files of earlier snapshots of the suite into
// the new one's by-hash directories (dists is its dists/SUITE): a client
// that read an earlier InRelease still finds the indexes it names after
// the suite has switched.
func carryByHash(dists string, earlier []string) error {
	for _, old := range earlier {
		data, err := os.ReadFile(filepath.Join(old, "Release"))
		if err != nil {
			continue // pruned meanwhile, or not ours
		}
		rel, err := ParseRelease(data)
		if err != nil {
			continue
		}
		for _, f := range rel.Files {
			for _, name := range byHashNames(f) {
				dst := filepath.Join(dists, filepath.FromSlash(name))
				if _, err := os.Lstat(dst); err == nil {
					continue
				}
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
				if err := os.Link(filepath.Join(old, filepath.FromSlash(f.Path)), dst); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
		}
	}
	return nil
}
