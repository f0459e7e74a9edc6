package untar

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name string
	typ  byte
	link string
	body string
	mode int64
}

func tarOf(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: mode, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func dir(n string) entry             { return entry{name: n, typ: tar.TypeDir, mode: 0o755} }
func file(n, body string) entry      { return entry{name: n, typ: tar.TypeReg, body: body} }
func symlink(n, target string) entry { return entry{name: n, typ: tar.TypeSymlink, link: target} }
func hardlink(n, target string) entry {
	return entry{name: n, typ: tar.TypeLink, link: target}
}

// TestUnpackHostile: what a host sends back cannot write outside the
// staging directory, whatever the archive says.
func TestUnpackHostile(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"absolute path", []entry{file("/etc/passwd", "x")}, "absolute name"},
		{"dotdot", []entry{file("../escape", "x")}, "contains .."},
		{"dotdot inside", []entry{dir("./a/"), file("./a/../../escape", "x")}, "contains .."},
		{"symlink escape", []entry{symlink("./up", "../../etc")}, "points outside"},
		{"symlink escape deep", []entry{dir("./a/"), symlink("./a/up", "../../x")}, "points outside"},
		{"write through symlink", []entry{symlink("./etc", "/etc"), file("./etc/passwd", "x")}, "goes through the symbolic link"},
		{"write through relative symlink", []entry{dir("./a/"), symlink("./b", "a"), file("./b/x", "x")}, "goes through the symbolic link"},
		{"hardlink escape", []entry{hardlink("./passwd", "/etc/passwd")}, "absolute name"},
		{"hardlink dotdot", []entry{hardlink("./passwd", "../../etc/passwd")}, "contains .."},
		{"hardlink to missing", []entry{hardlink("./x", "./nothing")}, "earlier in the archive"},
		{"hardlink to symlink", []entry{symlink("./l", "/etc/passwd"), hardlink("./x", "./l")}, "earlier in the archive"},
		{"char device", []entry{{name: "./null", typ: tar.TypeChar}}, "character device"},
		{"block device", []entry{{name: "./sda", typ: tar.TypeBlock}}, "block device"},
		{"fifo", []entry{{name: "./p", typ: tar.TypeFifo}}, "fifo"},
		{"duplicate", []entry{file("./a", "1"), file("./a", "2")}, "appears twice"},
		{"file then dir", []entry{file("./a", "1"), dir("./a/")}, "appears twice"},
		{"orphan", []entry{file("./no/dir/x", "1")}, "comes before its directory"},
		{"under a file", []entry{file("./a", "1"), file("./a/b", "2")}, "not a directory"},
		{"newline", []entry{file("./a\nb", "1")}, "line break"},
		{"top not dir", []entry{file(".", "1")}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			stage := filepath.Join(parent, "stage")
			if err := os.Mkdir(stage, 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := Unpack(bytes.NewReader(tarOf(t, tt.entries...)), stage, 1<<20)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error with %q, got %v", tt.want, err)
			}
			// Nothing appeared beside the staging directory.
			if es, _ := os.ReadDir(parent); len(es) != 1 {
				t.Fatalf("something was written outside the staging directory: %v", es)
			}
		})
	}
}

// TestUnpackGood: what GNU tar -cf - . makes of an install tree comes
// through with its modes, links and times; nothing on disk is set-uid.
func TestUnpackGood(t *testing.T) {
	stage := t.TempDir()
	es := []entry{dir("./"), dir("./usr/"), dir("./usr/bin/"), {name: "./usr/bin/su", typ: tar.TypeReg, body: "su", mode: 0o4755},
		file("./usr/bin/hello", "ELF"), hardlink("./usr/bin/hi", "./usr/bin/hello"),
		symlink("./usr/bin/hey", "hello"), symlink("./usr/bin/abs", "/usr/lib/x/bin/x"),
		{name: "./var/", typ: tar.TypeDir, mode: 0o1777}}
	modes, err := Unpack(bytes.NewReader(tarOf(t, es...)), stage, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		"usr": fs.ModeDir | 0o755, "usr/bin": fs.ModeDir | 0o755, "usr/bin/su": fs.ModeSetuid | 0o755,
		"usr/bin/hello": 0o644, "usr/bin/hi": 0o644, "usr/bin/hey": fs.ModeSymlink | 0o644, "usr/bin/abs": fs.ModeSymlink | 0o644,
		"var": fs.ModeDir | fs.ModeSticky | 0o777,
	}
	for name, m := range want {
		if modes[name] != m {
			t.Errorf("mode of %s: %v, want %v", name, modes[name], m)
		}
	}
	if len(modes) != len(want) {
		t.Errorf("modes %v", modes)
	}
	st, err := os.Lstat(filepath.Join(stage, "usr/bin/su"))
	if err != nil || st.Mode() != 0o600 {
		t.Errorf("su on disk: %v %v, want 0600", st.Mode(), err)
	}
	if data, _ := os.ReadFile(filepath.Join(stage, "usr/bin/hi")); string(data) != "ELF" {
		t.Errorf("hard link content %q", data)
	}
	if l, _ := os.Readlink(filepath.Join(stage, "usr/bin/abs")); l != "/usr/lib/x/bin/x" {
		t.Errorf("absolute link kept as %q", l)
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add(tarOf(f, dir("./"), dir("./a/"), file("./a/b", "x"), symlink("./c", "a/b")))
	f.Add(tarOf(f, symlink("./etc", "/etc"), file("./etc/passwd", "x")))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, err := os.MkdirTemp("", "fuzz-unpack-*")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		stage := filepath.Join(parent, "s")
		if err := os.Mkdir(stage, 0o700); err != nil {
			t.Fatal(err)
		}
		_, _ = Unpack(bytes.NewReader(data), stage, int64(len(data)))
		if es, _ := os.ReadDir(parent); len(es) != 1 {
			t.Fatalf("wrote outside the staging directory: %v", es)
		}
		// Every symbolic link left is absolute (package content) or stays in.
		_ = filepath.WalkDir(stage, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Type()&fs.ModeSymlink != 0 {
				l, _ := os.Readlink(p)
				rel, _ := filepath.Rel(stage, filepath.Join(filepath.Dir(p), l))
				if !filepath.IsAbs(l) && !filepath.IsLocal(rel) && rel != "." {
					t.Fatalf("link %s → %s leaves the tree", p, l)
				}
			}
			return nil
		})
	})
}
