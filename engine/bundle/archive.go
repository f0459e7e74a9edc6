package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"time"
)

// Pack writes the archive of m and files: deterministic, so that the same
// site, inputs and creation time give the same bytes (set m.Created from
// SOURCE_DATE_EPOCH for reproducible bundles). m.Files is filled in; an
// empty m.Version becomes the creation time and a hash of the content.
func Pack(m Manifest, files []File) ([]byte, Manifest, error) {
	es, err := entries(files)
	if err != nil {
		return nil, m, err
	}
	m.Format, m.Files = Format, es
	m.Created = m.Created.UTC().Truncate(time.Second)
	if m.Version == "" {
		m.Version = m.Created.Format("20060102T150405Z") + "-" + contentHash(m)[:12]
	}
	if err := CheckVersion(m.Version); err != nil {
		return nil, m, err
	}
	man, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, m, err
	}
	byPath := make(map[string]File, len(files))
	for _, f := range files {
		byPath[f.Path] = f
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	tw := tar.NewWriter(zw)
	put := func(name string, mode int64, data []byte) error {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: m.Created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := put(ManifestName, 0o644, append(man, '\n')); err != nil {
		return nil, m, err
	}
	for _, e := range es {
		f := byPath[e.Path]
		if err := put(e.Path, int64(f.Mode()), f.Data); err != nil {
			return nil, m, fmt.Errorf("packing %s: %w", e.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, m, err
	}
	if err := zw.Close(); err != nil {
		return nil, m, err
	}
	return buf.Bytes(), m, nil
}

// contentHash identifies what a bundle holds, whatever its version.
func contentHash(m Manifest) string {
	h := sha256.New()
	fmt.Fprintf(h, "site %q commit %q hosts %q notes %q\n", m.Site, m.Commit, m.Hosts, m.Notes)
	for _, e := range m.Files {
		fmt.Fprintf(h, "%s %s %s\n", e.SHA256, e.Mode, e.Path)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Read parses an archive and checks it against its own manifest: only
// regular files, each listed once, in the manifest's order, with its size,
// mode and SHA-256; no path that leaves the bundle; nothing beyond lim.
// Call it on an archive whose signature was checked (see Open): it is
// written to withstand a hostile archive anyway.
func Read(archive []byte, lim Limits) (*Manifest, []File, error) {
	if int64(len(archive)) > lim.Archive {
		return nil, nil, fmt.Errorf("archive of %d bytes: larger than the limit of %d", len(archive), lim.Archive)
	}
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, nil, fmt.Errorf("not a gzip archive: %w", err)
	}
	zr.Multistream(false)
	tr := tar.NewReader(zr)
	next := func(max int64) (*tar.Header, []byte, error) {
		h, err := tr.Next()
		if err != nil {
			return nil, nil, err
		}
		if h.Typeflag != tar.TypeReg {
			return h, nil, fmt.Errorf("entry %q is not a regular file (type %q): bundles hold regular files only", h.Name, h.Typeflag)
		}
		if h.Size < 0 || h.Size > max {
			return h, nil, fmt.Errorf("entry %q of %d bytes: larger than the limit of %d", h.Name, h.Size, max)
		}
		data := make([]byte, h.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			return h, nil, fmt.Errorf("entry %q: %w", h.Name, err)
		}
		return h, data, nil
	}
	h, raw, err := next(lim.Manifest)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the manifest: %w", err)
	}
	if h.Name != ManifestName {
		return nil, nil, fmt.Errorf("the first entry is %q, not %s", h.Name, ManifestName)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("reading the manifest: %w", err)
	}
	if err := checkManifest(&m, lim); err != nil {
		return nil, nil, err
	}
	files := make([]File, 0, len(m.Files))
	for _, e := range m.Files {
		h, data, err := next(e.Size)
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("the archive ends before %s, which the manifest lists", e.Path)
		}
		if err != nil {
			return nil, nil, err
		}
		if h.Name != e.Path {
			return nil, nil, fmt.Errorf("entry %q where the manifest lists %q next", h.Name, e.Path)
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != e.Size || hex.EncodeToString(sum[:]) != e.SHA256 {
			return nil, nil, fmt.Errorf("%s does not match its SHA-256 in the manifest", e.Path)
		}
		files = append(files, File{Path: e.Path, Exec: e.Mode == "0755", Data: data})
	}
	if h, err := tr.Next(); err == nil {
		return nil, nil, fmt.Errorf("entry %q is not in the manifest", h.Name)
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("after the last file: %w", err)
	}
	return &m, files, nil
}

// checkManifest checks a manifest read from an archive: its format, and
// files sorted, unique, with safe paths and modes, within the limits.
func checkManifest(m *Manifest, lim Limits) error {
	if m.Format != Format {
		return fmt.Errorf("manifest format %d: this pinery reads format %d (upgrade pinery on the board, or bundle with the same version)", m.Format, Format)
	}
	if err := CheckVersion(m.Version); err != nil {
		return err
	}
	if len(m.Files) > lim.Files {
		return fmt.Errorf("%d files: more than the limit of %d", len(m.Files), lim.Files)
	}
	var total int64
	dirs := map[string]bool{}
	for i, e := range m.Files {
		if err := CheckPath(e.Path); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		if i > 0 && e.Path <= m.Files[i-1].Path {
			return fmt.Errorf("manifest: %q listed out of order or twice", e.Path)
		}
		if e.Mode != "0644" && e.Mode != "0755" {
			return fmt.Errorf("manifest: %s has mode %q: want 0644 or 0755", e.Path, e.Mode)
		}
		if e.Size < 0 || e.Size > lim.File {
			return fmt.Errorf("manifest: %s of %d bytes: larger than the limit of %d", e.Path, e.Size, lim.File)
		}
		if total += e.Size; total > lim.Total {
			return fmt.Errorf("manifest: files of more than %d bytes in all", lim.Total)
		}
		for d := path.Dir(e.Path); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		if len(e.SHA256) != 64 {
			return fmt.Errorf("manifest: %s has no valid SHA-256", e.Path)
		}
	}
	for _, e := range m.Files {
		if dirs[e.Path] {
			return fmt.Errorf("manifest: %s is both a file and a directory", e.Path)
		}
	}
	return nil
}
