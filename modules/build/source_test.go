package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func TestPackSource(t *testing.T) {
	base := testBase(t)
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "sub", "x.h"), "#define X 1\n", 0o600)
	write(t, filepath.Join(src, ".git", "config"), "[core]\n", 0o644)
	write(t, filepath.Join(src, "out", "old.deb"), "old", 0o644)
	if err := os.Symlink("sub/x.h", filepath.Join(src, "x.h")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	digest, err := packSource(src, filepath.Join(src, "out"), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := packSource(src, filepath.Join(src, "out"), nil); d2 != digest || !strings.HasPrefix(digest, "tree:") {
		t.Fatalf("digest %q without a writer, %q with one", d2, digest)
	}
	var got []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, h.Name+" "+string(h.Typeflag)+" "+h.Linkname+" "+string(body))
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: owner %d:%d", h.Name, h.Uid, h.Gid)
		}
		// Modes are normalized from the executable bit.
		if want := map[string]int64{"build.sh": 0o755, "hello.c": 0o644, "sub/x.h": 0o644, "sub/": 0o755}[h.Name]; want != 0 && h.Mode != want {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, want)
		}
	}
	sort.Strings(got)
	want := []string{"build.sh 0  #!/bin/sh\n", "hello.c 0  int main(void) { return 0; }\n", "sub/ 5  ", "sub/x.h 0  #define X 1\n", "x.h 2 sub/x.h "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tar entries\n got %q\nwant %q", got, want)
	}

	// A fifo cannot be shipped.
	if err := syscall.Mkfifo(filepath.Join(src, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := packSource(src, "", nil); err == nil || !strings.Contains(err.Error(), "neither a file") {
		t.Errorf("fifo: %v", err)
	}
}

func tarball() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "hello-1.0/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "hello-1.0/README", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
	_, _ = tw.Write([]byte("hi\n"))
	_ = tw.Close()
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	plain := tarball()
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	var xzb, zsb bytes.Buffer
	xw, _ := xz.NewWriter(&xzb)
	_, _ = xw.Write(plain)
	_ = xw.Close()
	zw, _ := zstd.NewWriter(&zsb)
	_, _ = zw.Write(plain)
	_ = zw.Close()
	bz2, err := os.ReadFile("testdata/hello-1.0.tar.bz2")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		err  string
	}{
		{"plain", plain, ""}, {"gzip", gz(plain), ""}, {"xz", xzb.Bytes(), ""}, {"zstd", zsb.Bytes(), ""}, {"bzip2", bz2, ""},
		{"gzip of text", gz([]byte("not a tar at all")), "not a tar archive"},
		{"zip", []byte("PK\x03\x04 a zip file"), "not a tar archive"},
		{"empty", nil, "not a tar archive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, done, err := decompress(bytes.NewReader(tt.data))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			tr := tar.NewReader(r)
			var names []string
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, h.Name)
			}
			if strings.Join(names, " ") != "hello-1.0/ hello-1.0/README" {
				t.Errorf("entries %v", names)
			}
		})
	}
}

func TestDownload(t *testing.T) {
	archive := tarball()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/hello-1.0.tar" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(archive)
	}))
	defer srv.Close()
	h := sha256.Sum256(archive)
	good := hex.EncodeToString(h[:])
	base := testBase(t)
	vals := with(valid(), "source_dir", nil, "source_url", str(srv.URL+"/hello-1.0.tar"), "source_sha256", str(good))
	b := newBuild(t, base, vals)
	ctx := context.Background()
	p, err := b.cachedArchive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); !bytes.Equal(data, archive) || p != filepath.Join(base, ".pinery", "cache", "sources", good) {
		t.Fatalf("cached at %s: %d bytes", p, len(data))
	}
	if _, err := b.cachedArchive(ctx); err != nil || hits.Load() != 1 {
		t.Fatalf("second use downloaded again (%d requests, %v)", hits.Load(), err)
	}
	// A damaged cache entry is fetched again.
	write(t, p, "damaged", 0o644)
	if _, err := b.cachedArchive(ctx); err != nil || hits.Load() != 2 {
		t.Fatalf("damaged cache: %d requests, %v", hits.Load(), err)
	}

	wrong := strings.Repeat("0", 64)
	b = newBuild(t, t.TempDir(), with(vals, "source_sha256", str(wrong)))
	if _, err := b.cachedArchive(ctx); err == nil || !strings.Contains(err.Error(), "not source_sha256") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("wrong checksum: %v", err)
	}
	if es, _ := os.ReadDir(filepath.Join(b.baseDir, ".pinery", "cache", "sources")); len(es) != 0 {
		t.Errorf("a failed download left %v in the cache", es)
	}
	b = newBuild(t, t.TempDir(), with(vals, "source_url", str(srv.URL+"/missing.tar")))
	if _, err := b.cachedArchive(ctx); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing: %v", err)
	}

	// A sensitive URL (a token in it) appears in no error.
	secret := srv.URL + "/missing.tar?token=s3cr3t"
	b = newBuild(t, t.TempDir(), with(vals, "source_url", str(secret)), "source_url")
	if _, err := b.cachedArchive(ctx); err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "sensitive") {
		t.Errorf("sensitive URL: %v", err)
	}
	b = newBuild(t, t.TempDir(), with(vals, "source_url", str("http://127.0.0.1:1/x.tar?token=s3cr3t")), "source_url")
	if _, err := b.cachedArchive(ctx); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("sensitive URL, unreachable: %v", err)
	}
}
