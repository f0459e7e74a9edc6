package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Kinds of source.
const (
	srcDir = "dir"
	srcURL = "url"
	srcGit = "git"
)

// source is where a build's input comes from.
type source struct {
	kind   string
	dir    string // srcDir: absolute on the controller
	url    string // srcURL, srcGit
	sha256 string // srcURL
	commit string // srcGit
	// digest names the content: "tree:HEX" (a directory's files),
	// "sha256:HEX" (an archive), "git:COMMIT".
	digest string
}

// maxDownload bounds a source archive, so that a wrong URL cannot fill
// the controller's disk.
const maxDownload = 4 << 30

// packSource walks dir in lexical order, leaving out .git and .pinery
// directories and skip (the output directory), writes it as a tar to w
// (when not nil) and returns the digest of what it read. The digest covers
// names, kinds, the executable bit, contents and link targets, not times
// or owners: a fresh checkout of the same files is the same source.
func packSource(dir, skip string, w io.Writer) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", dir, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	h := sha256.New()
	var tw *tar.Writer
	if w != nil {
		tw = tar.NewWriter(w)
	}
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if e.Name() == ".git" || e.Name() == ".pinery" || p == skip {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel := filepath.ToSlash(p[len(dir)+1:])
		info, err := e.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, ModTime: info.ModTime(), Mode: 0o644}
		switch {
		case e.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
			fmt.Fprintf(h, "d %q\n", rel)
			if tw != nil {
				return tw.WriteHeader(hdr)
			}
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
			fmt.Fprintf(h, "l %q %q\n", rel, target)
			if tw != nil {
				return tw.WriteHeader(hdr)
			}
		case e.Type().IsRegular():
			x := "-"
			if info.Mode()&0o111 != 0 {
				x, hdr.Mode = "x", 0o755
			}
			sum, err := hashFile(p, info.Size(), tw, hdr)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "f %q %s %s\n", rel, x, sum)
		default:
			return fmt.Errorf("%s is neither a file, a directory nor a symbolic link", p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the source: %w", err)
	}
	if tw != nil {
		if err := tw.Close(); err != nil {
			return "", err
		}
	}
	return "tree:" + hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile hashes a file's content, copying it into tw when not nil.
func hashFile(p string, size int64, tw *tar.Writer, hdr *tar.Header) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	var dst io.Writer = h
	if tw != nil {
		hdr.Typeflag, hdr.Size = tar.TypeReg, size
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		dst = io.MultiWriter(h, tw)
	}
	// Exactly the size announced: a file that grows or shrinks while it is
	// read is an error, not a corrupt archive.
	if _, err := io.CopyN(dst, f, size); err != nil {
		return "", fmt.Errorf("%s changed while it was read: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cachedArchive returns the path of the source archive in the controller's
// cache, downloading it first when it is missing or damaged.
func (b *Build) cachedArchive(ctx context.Context) (string, error) {
	dir := filepath.Join(b.baseDir, ".pinery", "cache", "sources")
	p := filepath.Join(dir, b.src.sha256)
	if sum, err := fileSHA256(p); err == nil && sum == b.src.sha256 {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := b.download(ctx, p); err != nil {
		return "", fmt.Errorf("downloading %s: %w", b.showURL(b.src.url, "source_url"), err)
	}
	return p, nil
}

// download fetches source_url into p, checking its checksum before the
// file appears under its name.
func (b *Build) download(ctx context.Context, p string) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.src.url, nil)
	if err != nil {
		return errors.New("invalid request")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// The error quotes the URL; keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return errors.New(b.redact(err.Error()))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".download-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, maxDownload+1))
	if err != nil {
		return err
	}
	if n > maxDownload {
		return fmt.Errorf("the archive is larger than %d GiB", maxDownload>>30)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.src.sha256 {
		return fmt.Errorf("its SHA-256 is %s, not source_sha256 %s (a new release under the same URL, or a damaged download)", got, b.src.sha256)
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// decompress returns the plain tar stream of an archive, whatever its
// compression (found from its first bytes, not its name), so that the
// builder needs no decompressor. It checks that the result is a tar.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	var out io.Reader = br
	done := func() {}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		out = zr
	case bytes.HasPrefix(magic, []byte("BZh")):
		out = bzip2.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		out = xr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		out, done = zr, zr.Close
	}
	// A tar header block holds "ustar" at offset 257 (GNU and POSIX).
	pr := bufio.NewReaderSize(out, 1024)
	hdr, err := pr.Peek(512)
	if err != nil || !bytes.Equal(hdr[257:262], []byte("ustar")) {
		done()
		return nil, nil, errors.New("it is not a tar archive (plain, gzip, bzip2, xz or zstd)")
	}
	return pr, done, nil
}

// sha256Of hashes strings for the cache key.
func sha256Of(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		writeField(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeField writes a length-prefixed value, so that no two sequences of
// values hash alike.
func writeField(h hash.Hash, s string) {
	fmt.Fprintf(h, "%d:%s\n", len(s), s)
}
