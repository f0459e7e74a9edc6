package pythonvenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/resource"
)

// testWheels are small pure-Python wheels with no dependencies, downloaded
// once from PyPI on the controller (the boards have no internet) and kept
// in wheelCache between runs.
var testWheels = []string{"six==1.16.0", "six==1.17.0", "attrs==23.2.0", "idna==3.7"}

const wheelCache = "/var/cache/pinery-test-wheels"

// sdistOnly is listed by the wheelhouse as a source release only: with
// only_binary pip must not find it.
const sdistOnly = "sdistonly-1.0.tar.gz"

// fetchWheels returns the directory holding testWheels, downloading the
// missing ones with the controller's pip.
func fetchWheels(t *testing.T) string {
	t.Helper()
	if err := os.MkdirAll(wheelCache, 0o755); err != nil {
		t.Fatalf("wheel cache: %v", err)
	}
	// Tests of other packages may fill the cache at the same time.
	lock, err := os.OpenFile(filepath.Join(wheelCache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("wheel cache: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("wheel cache: %v", err)
	}
	for _, spec := range testWheels {
		name, ver, _ := strings.Cut(spec, "==")
		if m, _ := filepath.Glob(filepath.Join(wheelCache, name+"-"+ver+"-*.whl")); len(m) > 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		out, err := exec.CommandContext(ctx, "python3", "-m", "pip", "download", "-q", "--disable-pip-version-check",
			"--only-binary=:all:", "--no-deps", "--dest", wheelCache, spec).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("downloading %s from PyPI on the controller (needs python3-pip): %v\n%s", spec, err, out)
		}
	}
	return wheelCache
}

// wheelhouse serves a directory of wheels over HTTP, to the fleet, three
// ways: /links/ (a find-links page), /simple/ (a PEP 503 index) and
// /private/simple/ (the same behind basic auth).
type wheelhouse struct {
	URL        string // http://controller:port
	user, pass string
	authorized atomic.Int32 // requests that passed basic auth
}

// serveWheels serves dir on the controller's address as host h sees it.
func serveWheels(t *testing.T, h resource.Runner, dir string) *wheelhouse {
	t.Helper()
	addr := strings.TrimSpace(run(t, h, `echo "${SSH_CLIENT%% *}"`))
	if net.ParseIP(addr) == nil {
		t.Fatalf("cannot tell the controller's address from the host's SSH_CLIENT: %q", addr)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("wheelhouse: %v", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	w := &wheelhouse{URL: "http://" + ln.Addr().String(), user: "pinery", pass: "pw-" + hex.EncodeToString(b[:])}

	files, err := filepath.Glob(filepath.Join(dir, "*.whl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no wheels in %s: %v", dir, err)
	}
	type file struct{ name, sha string }
	projects := map[string][]file{}
	for _, f := range append(files, sdistOnly) {
		name, sum := filepath.Base(f), strings.Repeat("0", 64)
		if name != sdistOnly {
			sum = sha256File(t, f)
		}
		project, _, _ := strings.Cut(name, "-")
		projects[normalize(project)] = append(projects[normalize(project)], file{name, sum})
	}
	page := func(rw http.ResponseWriter, fs []file) {
		sort.Slice(fs, func(i, j int) bool { return fs[i].name < fs[j].name })
		fmt.Fprint(rw, "<!DOCTYPE html>\n<html><body>\n")
		for _, f := range fs {
			fmt.Fprintf(rw, "<a href=\"/files/%s#sha256=%s\">%s</a><br>\n", html.EscapeString(f.name), f.sha, html.EscapeString(f.name))
		}
		fmt.Fprint(rw, "</body></html>\n")
	}
	simple := func(rw http.ResponseWriter, r *http.Request, prefix string) {
		project := strings.Trim(strings.TrimPrefix(r.URL.Path, prefix), "/")
		if project == "" {
			var names []string
			for p := range projects {
				names = append(names, p)
			}
			sort.Strings(names)
			fmt.Fprint(rw, "<!DOCTYPE html>\n<html><body>\n")
			for _, p := range names {
				fmt.Fprintf(rw, "<a href=\"%s/\">%s</a>\n", p, p)
			}
			fmt.Fprint(rw, "</body></html>\n")
			return
		}
		fs, ok := projects[project]
		if !ok || project != normalize(project) {
			http.NotFound(rw, r)
			return
		}
		page(rw, fs)
	}

	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(dir))))
	mux.HandleFunc("/links/", func(rw http.ResponseWriter, r *http.Request) {
		var all []file
		for _, fs := range projects {
			all = append(all, fs...)
		}
		page(rw, all)
	})
	mux.HandleFunc("/simple/", func(rw http.ResponseWriter, r *http.Request) { simple(rw, r, "/simple/") })
	mux.HandleFunc("/private/simple/", func(rw http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != w.user || p != w.pass {
			rw.Header().Set("WWW-Authenticate", `Basic realm="wheels"`)
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.authorized.Add(1)
		simple(rw, r, "/private/simple/")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return w
}

// privateIndex is the authenticated index's URL, credentials included.
func (w *wheelhouse) privateIndex() string {
	return strings.Replace(w.URL, "http://", "http://"+w.user+":"+w.pass+"@", 1) + "/private/simple/"
}

func sha256File(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
