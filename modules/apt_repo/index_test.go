package aptrepo

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fakePkg is a package as the index sees it; its checksums are made up.
func fakePkg(name, version, arch string) *Package {
	h := func(n int) string { return strings.Repeat(string(name[0]), n) }
	return &Package{Name: name, Version: version, Architecture: arch, Source: name,
		Filename: poolPath("main", name, name, version, arch), Size: int64(1000 + len(name)),
		MD5: h(32), SHA1: h(40), SHA256: h(64), SHA512: h(128),
		Control: "Package: " + name + "\nVersion: " + version + "\nArchitecture: " + arch + "\nDescription: test\n more\n"}
}

func goldenSpec() *suiteSpec {
	date := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	return &suiteSpec{
		Suite: "stable", Origin: "pinery", Label: "pinery test", Architectures: []string{"arm64", "armhf", "amd64"},
		Components: map[string][]*Package{
			"main": {fakePkg("zeta", "1.0", "amd64"), fakePkg("hello", "2:1.1-1", "arm64"),
				fakePkg("hello", "2:1.1-1", "amd64"), fakePkg("common", "3", "all")},
			"contrib": nil,
		},
		Date: date, ValidUntil: date.Add(7 * 24 * time.Hour),
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestIndexesGolden(t *testing.T) {
	rel, files, err := goldenSpec().release()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "Release", rel.Bytes())
	golden(t, "main-binary-amd64-Packages", files["main/binary-amd64/Packages"])
	golden(t, "main-binary-armhf-Packages", files["main/binary-armhf/Packages"])

	// Every component and architecture has its three indexes, empty ones
	// too, and the compressed ones hold the plain one.
	if len(files) != 2*3*3 {
		t.Errorf("%d index files, want 18", len(files))
	}
	if len(files["contrib/binary-arm64/Packages"]) != 0 {
		t.Errorf("contrib is not empty")
	}
	for p, data := range files {
		plain := files[strings.TrimSuffix(strings.TrimSuffix(p, ".gz"), ".xz")]
		var r io.Reader
		switch filepath.Ext(p) {
		case ".gz":
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		case ".xz":
			xr, err := xz.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			r = xr
		default:
			continue
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s does not decompress to Packages: %v", p, err)
		}
	}
}

// The Release lists every index with checksums of its bytes, and parses
// back to what was printed.
func TestReleaseHashes(t *testing.T) {
	rel, files, err := goldenSpec().release()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRelease(rel.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rel) {
		t.Fatalf("parsed back:\n%+v\nwant\n%+v", back, rel)
	}
	if len(back.Files) != len(files) {
		t.Fatalf("%d files listed, %d made", len(back.Files), len(files))
	}
	for _, f := range back.Files {
		if msg := compare(files[f.Path], f); msg != "" {
			t.Errorf("%s: %s", f.Path, msg)
		}
	}
	if msg := compare([]byte("other"), back.Files[0]); msg == "" {
		t.Error("compare finds no difference in other content")
	}
}

func TestParseReleaseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Date: yesterday\n", `Date: "yesterday" is not a date`},
		{"SHA256:\n abc main/Packages\n", "malformed line"},
		{"SHA256:\n abc x main/Packages\n", "malformed line"},
		{"MD5Sum:\n a 1 p\nSHA256:\n b 2 p\n", "p has two sizes"},
		{"A: b\n\nC: d\n", "blank line"},
	}
	for _, tt := range tests {
		if _, err := ParseRelease([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRelease(%q) = %v, want error with %q", tt.in, err, tt.want)
		}
	}
}

func TestNewID(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	id := newID(now, []byte("a"), nil)
	if !strings.HasPrefix(id, "20240501T120000Z-") || len(id) != len("20240501T120000Z-")+8 {
		t.Fatalf("id %q", id)
	}
	// Same second, or a clock behind the newest snapshot: the ID still
	// sorts after every existing one.
	next := newID(now, []byte("b"), []string{id})
	if next <= id || !strings.HasPrefix(next, "20240501T120001Z-") {
		t.Errorf("same second: %q after %q", next, id)
	}
	if back := newID(now.Add(-time.Hour), []byte("c"), []string{id, next}); back <= next {
		t.Errorf("clock behind: %q after %q", back, next)
	}
}
