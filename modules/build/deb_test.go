package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// arMembers reads an ar archive (the .deb container) by hand: an
// implementation of its own, not nfpm's, checks what nfpm wrote.
func arMembers(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("!<arch>\n")) {
		t.Fatalf("not an ar archive")
	}
	out := map[string][]byte{}
	var order []string
	for rest := data[8:]; len(rest) > 0; {
		if len(rest) < 60 {
			t.Fatalf("truncated ar header")
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(rest[:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(rest[48:58])))
		if err != nil || string(rest[58:60]) != "`\n" || 60+size > len(rest) {
			t.Fatalf("bad ar header %q", rest[:60])
		}
		out[name] = rest[60 : 60+size]
		order = append(order, name)
		rest = rest[60+size+size%2:]
	}
	if strings.Join(order, " ") != "debian-binary control.tar.gz data.tar.gz" {
		t.Fatalf("ar members %v, want debian-binary control.tar.gz data.tar.gz in that order", order)
	}
	return out
}

type tarFile struct {
	hdr  *tar.Header
	body string
}

func untarGz(t *testing.T, data []byte) map[string]tarFile {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tarFile{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = tarFile{h, string(body)}
	}
}

// stageTree makes a staged DESTDIR as untar.Unpack leaves it: content
// on disk, private modes there, the real ones in the map.
func stageTree(t *testing.T) (string, map[string]fs.FileMode) {
	t.Helper()
	stage := t.TempDir()
	modes := map[string]fs.FileMode{}
	for _, d := range []string{"etc", "usr", "usr/bin", "lib", "lib/systemd", "lib/systemd/system"} {
		if err := os.Mkdir(filepath.Join(stage, d), 0o700); err != nil {
			t.Fatal(err)
		}
		modes[d] = fs.ModeDir | 0o755
	}
	for name, f := range map[string]struct {
		body string
		mode fs.FileMode
	}{
		"etc/hello.conf":                   {"greeting = hi\n", 0o644},
		"usr/bin/hello":                    {"\x7fELF...", 0o755},
		"usr/bin/helper":                   {"#!/bin/sh\n", fs.ModeSetuid | 0o755},
		"lib/systemd/system/hello.service": {"[Service]\nExecStart=/usr/bin/hello\n", 0o644},
	} {
		write(t, filepath.Join(stage, name), f.body, 0o600)
		modes[name] = f.mode
	}
	if err := os.Symlink("hello", filepath.Join(stage, "usr/bin/hi")); err != nil {
		t.Fatal(err)
	}
	modes["usr/bin/hi"] = fs.ModeSymlink | 0o777
	return stage, modes
}

func TestPackageDeb(t *testing.T) {
	stage, modes := stageTree(t)
	b := newBuild(t, testBase(t), with(valid(), "name", str("hello"), "deb_version", str("1:1.0-2"),
		"deb_maintainer", str("Ops Team <ops@example.org>"), "deb_description", str("Says hello\nA longer text.\n\nSecond paragraph."),
		"deb_depends", strs("libc6 (>= 2.36)", "default-mta | mail-transport-agent"), "deb_recommends", strs("curl"),
		"deb_conflicts", strs("hello-old"), "deb_breaks", strs("hello-plugins (<< 1.0)"), "deb_replaces", strs("hello-old"),
		"deb_provides", strs("greeter"), "deb_suggests", strs("cowsay"), "deb_homepage", str("https://example.org/hello"),
		"deb_section", str("utils"), "deb_license", str("MIT"), "deb_conffiles", strs("/etc/hello.conf"),
		"deb_scripts", cty.MapVal(map[string]cty.Value{"postinst": str("systemctl daemon-reload || true\n"), "prerm": str("#!/bin/bash\necho bye\n")})))
	var deb bytes.Buffer
	if err := b.deb.packageDeb(stage, modes, "arm64", &deb); err != nil {
		t.Fatal(err)
	}
	ar := arMembers(t, deb.Bytes())
	if string(ar["debian-binary"]) != "2.0\n" {
		t.Errorf("debian-binary %q", ar["debian-binary"])
	}
	control := untarGz(t, ar["control.tar.gz"])
	golden(t, "control.golden", control["./control"].body)
	if got := control["./conffiles"].body; got != "/etc/hello.conf\n" {
		t.Errorf("conffiles %q", got)
	}
	if got := control["./postinst"]; got.body != "#!/bin/sh\nset -e\nsystemctl daemon-reload || true\n" || got.hdr.Mode != 0o755 {
		t.Errorf("postinst %q mode %o", got.body, got.hdr.Mode)
	}
	if got := control["./prerm"].body; got != "#!/bin/bash\necho bye\n" {
		t.Errorf("prerm %q: a script with #! is kept as it is", got)
	}
	if _, ok := control["./preinst"]; ok {
		t.Error("a preinst that was not asked for")
	}
	if !strings.Contains(control["./md5sums"].body, "usr/bin/hello\n") {
		t.Errorf("md5sums %q", control["./md5sums"].body)
	}

	data := untarGz(t, ar["data.tar.gz"])
	var lines []string
	for name, f := range data {
		if f.hdr.Uname != "root" || f.hdr.Gname != "root" || f.hdr.Uid != 0 || f.hdr.Gid != 0 {
			t.Errorf("%s owned by %s:%s (%d:%d)", name, f.hdr.Uname, f.hdr.Gname, f.hdr.Uid, f.hdr.Gid)
		}
		lines = append(lines, fmt.Sprintf("%s %c %o %s", name, f.hdr.Typeflag, f.hdr.Mode, f.hdr.Linkname))
	}
	sort.Strings(lines)
	golden(t, "data.golden", strings.Join(lines, "\n")+"\n")
	if got := data["./usr/share/doc/hello/copyright"].body; !strings.Contains(got, "License: MIT\n") {
		t.Errorf("copyright %q", got)
	}

	// The same tree gives the same bytes.
	var again bytes.Buffer
	if err := b.deb.packageDeb(stage, modes, "arm64", &again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(deb.Bytes(), again.Bytes()) {
		t.Error("packaging the same tree twice gives different bytes")
	}

	// dpkg-deb, when the controller has it, reads it as dpkg will.
	if _, err := exec.LookPath("dpkg-deb"); err == nil {
		p := filepath.Join(t.TempDir(), "hello.deb")
		if err := os.WriteFile(p, deb.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("dpkg-deb", "--field", p, "Package", "Version", "Architecture").CombinedOutput()
		if err != nil || string(out) != "Package: hello\nVersion: 1:1.0-2\nArchitecture: arm64\n" {
			t.Errorf("dpkg-deb --field: %s %v", out, err)
		}
	} else {
		t.Log("no dpkg-deb on this controller: the .deb was checked by this test's own reader only")
	}
}

func TestPackageDebErrors(t *testing.T) {
	stage, modes := stageTree(t)
	b := newBuild(t, testBase(t), with(valid(), "name", str("hello"), "deb_conffiles", strs("/etc/missing.conf")))
	err := b.deb.packageDeb(stage, modes, "arm64", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "/etc/missing.conf is not a regular file") {
		t.Fatalf("missing conffile: %v", err)
	}
	b = newBuild(t, testBase(t), with(valid(), "name", str("hello"), "deb_arch", str("all")))
	if b.deb.fileName("arm64") != "hello_1.0-1_all.deb" {
		t.Errorf("arch all: %s", b.deb.fileName("arm64"))
	}
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (-update rewrites it):\n got:\n%s\nwant:\n%s", name, got, want)
	}
}
