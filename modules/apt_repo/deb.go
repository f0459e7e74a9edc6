package aptrepo

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Package is one binary package as the repository lists it.
type Package struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	Source       string `json:"source"` // source package name, Name when the control has none
	// Filename is the pool path relative to the repository root; empty for
	// a .deb just read.
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size"`
	MD5      string `json:"md5"`
	SHA1     string `json:"sha1"`
	SHA256   string `json:"sha256"`
	SHA512   string `json:"sha512"`
	// Control is the control file as in the .deb, minus the fields the
	// index adds itself.
	Control string `json:"control"`

	file string // the .deb read, for Add
}

// String names a package for people: "hello 1.0 (arm64)".
func (p *Package) String() string {
	return p.Name + " " + p.Version + " (" + p.Architecture + ")"
}

// indexFields are added by the repository; a control file has no business
// carrying them.
var indexFields = []string{"Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"}

// ReadDebFile reads a .deb: its control file and the hashes of the file.
func ReadDebFile(name string) (*Package, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := ReadDeb(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.file = name
	return p, nil
}

// ReadDeb reads a .deb from r to its end: the ar archive's debian-binary
// and control.tar{,.gz,.xz,.zst} members, and the size and hashes of the
// whole stream.
func ReadDeb(r io.Reader) (*Package, error) {
	hs := []hash.Hash{md5.New(), sha1.New(), sha256.New(), sha512.New()}
	var size countWriter
	ws := []io.Writer{&size}
	for _, h := range hs {
		ws = append(ws, h)
	}
	in := bufio.NewReader(io.TeeReader(r, io.MultiWriter(ws...)))
	control, err := readControl(in)
	if err != nil {
		return nil, fmt.Errorf("not a valid .deb: %w", err)
	}
	if _, err := io.Copy(io.Discard, in); err != nil {
		return nil, err
	}
	p, err := packageFromControl(control)
	if err != nil {
		return nil, err
	}
	p.Size = int64(size)
	p.MD5, p.SHA1 = hex.EncodeToString(hs[0].Sum(nil)), hex.EncodeToString(hs[1].Sum(nil))
	p.SHA256, p.SHA512 = hex.EncodeToString(hs[2].Sum(nil)), hex.EncodeToString(hs[3].Sum(nil))
	return p, nil
}

type countWriter int64

func (c *countWriter) Write(b []byte) (int, error) { *c += countWriter(len(b)); return len(b), nil }

// packageFromControl checks the fields that the repository relies on.
func packageFromControl(control string) (*Package, error) {
	para, err := ParseParagraph(control)
	if err != nil {
		return nil, err
	}
	p := &Package{Name: para.Get("Package"), Version: para.Get("Version"), Architecture: para.Get("Architecture")}
	switch {
	case p.Name == "":
		return nil, errors.New("control file has no Package field")
	case !pkgName.MatchString(p.Name) || len(p.Name) > 100:
		return nil, fmt.Errorf("package name %q is not a Debian package name (lower case letters, digits, + - .)", p.Name)
	case p.Version == "":
		return nil, errors.New("control file has no Version field")
	case !pkgVersion.MatchString(p.Version) || len(p.Version) > 100:
		return nil, fmt.Errorf("version %q of %s is not a Debian version this repository accepts (digits, letters, . + ~ -, an optional epoch N:)", p.Version, p.Name)
	case p.Architecture == "":
		return nil, errors.New("control file has no Architecture field")
	case p.Architecture != "all" && CheckArch(p.Architecture) != nil:
		return nil, fmt.Errorf("architecture %q of %s is not one architecture name", p.Architecture, p.Name)
	}
	// Source: NAME or NAME (VERSION)
	p.Source = p.Name
	if src := para.Get("Source"); src != "" {
		name, _, _ := strings.Cut(src, " ")
		if !pkgName.MatchString(name) || len(name) > 100 {
			return nil, fmt.Errorf("source package name %q of %s is not a Debian package name", name, p.Name)
		}
		p.Source = name
	}
	p.Control = para.Without(indexFields...).String()
	return p, nil
}

// maxControlTar bounds what is decompressed to find the control file.
const maxControlTar = 64 << 20

// readControl reads the ar archive to its end and returns the control file
// from its control.tar member; data.tar must follow it.
func readControl(r io.Reader) (string, error) {
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "!<arch>\n" {
		return "", errors.New("no ar archive header (!<arch>)")
	}
	var control string
	for i := 0; ; i++ {
		name, size, err := arHeader(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		body := &io.LimitedReader{R: r, N: size}
		switch {
		case i == 0:
			if name != "debian-binary" {
				return "", fmt.Errorf("first member is %q, not debian-binary", name)
			}
			v, _ := io.ReadAll(io.LimitReader(body, 16))
			if !bytes.HasPrefix(v, []byte("2.")) {
				return "", fmt.Errorf("debian-binary says format %q; only 2.x is known", strings.TrimSpace(string(v)))
			}
		case name == "control.tar" || strings.HasPrefix(name, "control.tar."):
			if control != "" {
				return "", errors.New("two control.tar members")
			}
			if control, err = controlFromTar(name, body); err != nil {
				return "", err
			}
		case name == "data.tar" || strings.HasPrefix(name, "data.tar."):
			if control == "" {
				return "", errors.New("data.tar before control.tar")
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				return "", err
			}
			if body.N > 0 {
				return "", fmt.Errorf("member %q is truncated", name)
			}
			return control, nil
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return "", err
		}
		if body.N > 0 {
			return "", fmt.Errorf("member %q is truncated", name)
		}
		if size%2 == 1 { // members are padded to an even offset
			if _, err := io.ReadFull(r, make([]byte, 1)); err != nil && err != io.EOF {
				return "", err
			}
		}
	}
	if control == "" {
		return "", errors.New("no control.tar member")
	}
	return "", errors.New("no data.tar member")
}

// arHeader reads one 60-byte member header: name, mtime, uid, gid, mode,
// size, "`\n".
func arHeader(r io.Reader) (string, int64, error) {
	var h [60]byte
	n, err := io.ReadFull(r, h[:])
	if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		return "", 0, io.EOF
	}
	if err != nil {
		return "", 0, errors.New("truncated ar member header")
	}
	if string(h[58:60]) != "`\n" {
		return "", 0, errors.New("malformed ar member header")
	}
	name := strings.TrimSuffix(strings.TrimRight(string(h[0:16]), " "), "/") // GNU ar ends names with /
	size, err := strconv.ParseInt(strings.TrimRight(string(h[48:58]), " "), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("malformed size in the ar header of %q", name)
	}
	return name, size, nil
}

// controlFromTar decompresses a control.tar member and returns its
// ./control file.
func controlFromTar(member string, r io.Reader) (string, error) {
	var tr io.Reader
	switch ext := path.Ext(member); ext {
	case ".tar":
		tr = r
	case ".gz":
		z, err := gzip.NewReader(r)
		if err != nil {
			return "", fmt.Errorf("%s: %w", member, err)
		}
		tr = z
	case ".xz":
		z, err := xz.NewReader(r)
		if err != nil {
			return "", fmt.Errorf("%s: %w", member, err)
		}
		tr = z
	case ".zst":
		z, err := zstd.NewReader(r, zstd.WithDecoderMaxMemory(maxControlTar))
		if err != nil {
			return "", fmt.Errorf("%s: %w", member, err)
		}
		defer z.Close()
		tr = z
	default:
		return "", fmt.Errorf("%s: compression %s is not supported (gzip, xz, zstd or none)", member, ext)
	}
	t := tar.NewReader(io.LimitReader(tr, maxControlTar))
	for {
		h, err := t.Next()
		if err == io.EOF {
			return "", fmt.Errorf("%s has no control file", member)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", member, err)
		}
		if path.Clean(strings.TrimPrefix(h.Name, "./")) != "control" || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxControl {
			return "", fmt.Errorf("%s: control file is %d bytes; more than %d is not a control file", member, h.Size, maxControl)
		}
		b, err := io.ReadAll(t)
		if err != nil {
			return "", fmt.Errorf("%s: %w", member, err)
		}
		return string(b), nil
	}
}
