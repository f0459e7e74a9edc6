package aptrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
)

// member is one ar member of a hand-made .deb.
type member struct {
	name string
	data []byte
}

func arArchive(ms ...member) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func tarOf(t testing.TB, files ...string) []byte { // name, content, name, content...
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for i := 0; i < len(files); i += 2 {
		h := &tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(h.Name, "/") {
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	w.Close()
	return b.Bytes()
}

func compress(t testing.TB, kind string, data []byte) []byte {
	var b bytes.Buffer
	switch kind {
	case "":
		return data
	case "gz":
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "xz":
		w, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "zst":
		w, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	}
	return b.Bytes()
}

const helloControl = "Package: hello\nVersion: 1:2.0-1\nArchitecture: arm64\nMaintainer: T <t@example.org>\nDescription: greets\n at length\n"

// handDeb is a .deb with control compressed as kind ("" = none).
func handDeb(t testing.TB, kind, control string) []byte {
	name := "control.tar"
	if kind != "" {
		name += "." + kind
	}
	return arArchive(member{"debian-binary", []byte("2.0\n")},
		member{name, compress(t, kind, tarOf(t, "./", "", "./control", control, "./md5sums", "x"))},
		member{"data.tar.xz", compress(t, "xz", tarOf(t, "./usr/share/hello", "hi\n"))})
}

func TestReadDebCompressions(t *testing.T) {
	for _, kind := range []string{"", "gz", "xz", "zst"} {
		t.Run("control.tar."+kind, func(t *testing.T) {
			data := handDeb(t, kind, helloControl)
			p, err := ReadDeb(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if p.Name != "hello" || p.Version != "1:2.0-1" || p.Architecture != "arm64" || p.Source != "hello" ||
				p.Size != int64(len(data)) || p.SHA256 != hex.EncodeToString(sum[:]) || p.Control != helloControl {
				t.Fatalf("got %+v", p)
			}
			// dpkg-deb, the reference, reads the same control file.
			if got := dpkgDebControl(t, data); got != helloControl {
				t.Errorf("dpkg-deb reads\n%q\nwe read\n%q", got, helloControl)
			}
		})
	}
}

func dpkgDebControl(t *testing.T, deb []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "x.deb")
	if err := os.WriteFile(f, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dpkg-deb", "--info", f, "control").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --info: %v\n%s", err, out)
	}
	return string(out)
}

// A .deb from nfpm (pinery's packager) with a Source field: the fields the
// index adds are not taken from the control file.
func TestReadDebNfpm(t *testing.T) {
	data := aptrepotest.Deb(t, "hello", "1.0-1", "amd64")
	p, err := ReadDeb(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "hello" || p.Version != "1.0-1" || p.Architecture != "amd64" || p.Size != int64(len(data)) {
		t.Fatalf("got %+v", p)
	}
	if got := dpkgDebControl(t, data); got != p.Control {
		t.Errorf("dpkg-deb reads\n%q\nwe read\n%q", got, p.Control)
	}

	withSource := strings.Replace(helloControl, "Package: hello\n", "Package: hello\nSource: greeter (1.0)\nFilename: x\nSHA256: y\n", 1)
	p, err = ReadDeb(bytes.NewReader(handDeb(t, "gz", withSource)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "greeter" || strings.Contains(p.Control, "Filename") || strings.Contains(p.Control, "SHA256") ||
		!strings.Contains(p.Control, "Source: greeter (1.0)\n") {
		t.Errorf("got %+v", p)
	}
}

func TestReadDebErrors(t *testing.T) {
	ctl := func(c string) []byte { return handDeb(t, "gz", c) }
	good := handDeb(t, "gz", helloControl)
	debBin := member{"debian-binary", []byte("2.0\n")}
	ctlTar := member{"control.tar.gz", compress(t, "gz", tarOf(t, "./control", helloControl))}
	data := member{"data.tar", tarOf(t, "a", "b")}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no ar archive header"},
		{"text", []byte("hello, world\n"), "no ar archive header"},
		{"truncated header", good[:30], "truncated ar member header"},
		{"truncated member", good[:len(good)-20], "is truncated"},
		{"bad size", []byte("!<arch>\ndebian-binary   0           0     0     100644  xx        `\n"), "malformed size"},
		{"bad magic", []byte("!<arch>\ndebian-binary   0           0     0     100644  4         ~\n2.0\n"), "malformed ar member header"},
		{"first member", arArchive(ctlTar, debBin, data), `first member is "control.tar.gz"`},
		{"format 3", arArchive(member{"debian-binary", []byte("3.0\n")}, ctlTar, data), `format "3.0"`},
		{"no control", arArchive(debBin, member{"data.tar", tarOf(t, "a", "b")}), "data.tar before control.tar"},
		{"only debian-binary", arArchive(debBin), "no control.tar member"},
		{"no data", arArchive(debBin, ctlTar), "no data.tar member"},
		{"two controls", arArchive(debBin, ctlTar, ctlTar, data), "two control.tar members"},
		{"bz2", arArchive(debBin, member{"control.tar.bz2", []byte("BZh")}, data), "compression .bz2 is not supported"},
		{"not gzip", arArchive(debBin, member{"control.tar.gz", []byte("plain")}, data), "control.tar.gz"},
		{"control missing in tar", arArchive(debBin, member{"control.tar", tarOf(t, "./md5sums", "x")}, data), "has no control file"},
		{"no package", ctl("Version: 1\nArchitecture: all\n"), "no Package field"},
		{"no version", ctl("Package: a1\nArchitecture: all\n"), "no Version field"},
		{"no arch", ctl("Package: a1\nVersion: 1\n"), "no Architecture field"},
		{"upper-case name", ctl("Package: Hello\nVersion: 1\nArchitecture: all\n"), `package name "Hello"`},
		{"path in name", ctl("Package: ../x\nVersion: 1\nArchitecture: all\n"), `package name "../x"`},
		{"slash in version", ctl("Package: ab\nVersion: 1/2\nArchitecture: all\n"), `version "1/2"`},
		{"colon in upstream", ctl("Package: ab\nVersion: 1:2:3\nArchitecture: all\n"), `version "1:2:3"`},
		{"two archs", ctl("Package: ab\nVersion: 1\nArchitecture: amd64 arm64\n"), `architecture "amd64 arm64"`},
		{"bad source", ctl("Package: ab\nSource: ../x\nVersion: 1\nArchitecture: all\n"), `source package name "../x"`},
		{"two paragraphs", ctl("Package: ab\n\nVersion: 1\n"), "blank line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadDeb(bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// FuzzReadDeb: no input makes the reader panic or hang, and what it
// accepts has names that are safe in pool paths.
func FuzzReadDeb(f *testing.F) {
	f.Add(handDeb(f, "", helloControl))
	f.Add(handDeb(f, "gz", helloControl))
	f.Add(arArchive(member{"debian-binary", []byte("2.0\n")}, member{"control.tar", tarOf(f, "control", "Package: ab\nVersion: 1\nArchitecture: all\n")}, member{"data.tar", nil}))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ReadDeb(bytes.NewReader(in))
		if err != nil {
			return
		}
		path := poolPath("main", p.Source, p.Name, p.Version, p.Architecture)
		if strings.Contains(path, "..") || strings.ContainsAny(path, " \n:") || p.Size != int64(len(in)) {
			t.Fatalf("accepted %+v (pool path %q)", p, path)
		}
		if _, err := ParseParagraph(p.Control); err != nil {
			t.Fatalf("control does not parse again: %v", err)
		}
	})
}
