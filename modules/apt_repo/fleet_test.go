package aptrepo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// controller is the machine's address on the fleet bridge: the only one
// the boards reach.
const controller = "10.231.0.1"

// dialFleet locks the fleet once and connects to the named hosts
// (fleettest.Dial would take the lock once per host and wait on itself).
func dialFleet(t *testing.T, names ...string) []transport.Host {
	t.Helper()
	start := time.Now()
	fleettest.Lock(t)
	t.Logf("fleet lock after %s", time.Since(start).Round(time.Millisecond))
	var hs []transport.Host
	for _, name := range names {
		h := fleettest.Host(t, name)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		conn, err := transport.DialSSH(ctx, transport.SSHConfig{Address: h.Address, Port: h.Port, User: h.User,
			IdentityFile: h.IdentityFile, KnownHosts: h.KnownHosts, ConnectTimeout: h.ConnectTimeout})
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", name, err)
		}
		t.Cleanup(func() { conn.Close() })
		hs = append(hs, conn)
	}
	return hs
}

// serve serves root over HTTP on the fleet bridge and returns its URL.
func serve(t *testing.T, root string) string {
	t.Helper()
	ln, err := net.Listen("tcp", controller+":0")
	if err != nil {
		t.Fatalf("listening on the fleet bridge: %v", err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(root)), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func run(t *testing.T, h resource.Runner, cmd string) string {
	t.Helper()
	res, err := h.Run(context.Background(), cmd, nil)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if err := res.Err(cmd); err != nil {
		t.Fatal(err)
	}
	return string(res.Stdout)
}

func q(s string) string { return shellescape.Quote(s) }

// aptClient is apt on a board, confined to a scratch directory: its own
// sources file, keyring, lists and archive cache, so that the board's own
// apt state and other tests' sources are never touched.
type aptClient struct {
	h       resource.Runner
	scratch string
	mu      sync.Mutex
	pkgs    []string // installed by the test, purged at the end
}

func newAptClient(t *testing.T, h resource.Runner) *aptClient {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	c := &aptClient{h: h, scratch: "/tmp/pinery-aptrepo-" + hex.EncodeToString(b[:])}
	run(t, h, "mkdir -p "+c.scratch+"/lists/partial "+c.scratch+"/archives/partial")
	t.Cleanup(func() {
		cmd := "rm -rf -- " + c.scratch
		if len(c.pkgs) > 0 {
			cmd = "dpkg --purge " + strings.Join(c.pkgs, " ") + " >/dev/null; " + cmd
		}
		h.Run(context.Background(), cmd, nil)
	})
	return c
}

// runErr runs a command and returns its stdout, or an error quoting its
// stderr; unlike run it may be called from any goroutine.
func runErr(h resource.Runner, cmd string) (string, error) {
	res, err := h.Run(context.Background(), cmd, nil)
	if err != nil {
		return "", err
	}
	return string(res.Stdout), res.Err(cmd)
}

// source makes uri (a repository root or a snapshot) the only source, with
// pub as its Signed-By key.
func (c *aptClient) source(uri, suite string, pub []byte) error {
	src := fmt.Sprintf("Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s/pubkey.asc\n", uri, suite, c.scratch)
	_, err := runErr(c.h, fmt.Sprintf("printf '%%s' %s >%s/test.sources && printf '%%s' %s >%s/pubkey.asc", q(src), c.scratch, q(string(pub)), c.scratch))
	return err
}

// opts keep apt to the scratch directory and off the apt proxy.
func (c *aptClient) opts() string {
	s := c.scratch
	return "-o Acquire::http::Proxy::" + controller + "=DIRECT -o Dir::Etc::sourcelist=" + s + "/test.sources" +
		" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 -o Dir::State::Lists=" + s + "/lists" +
		" -o Dir::Cache::Archives=" + s + "/archives -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache="
}

// update runs apt-get update and returns its output and whether it
// succeeded; apt-get exits 0 on some failures, so errors ("E:") and
// warnings ("W:") count as failures too.
func (c *aptClient) update() (string, bool, error) {
	res, err := c.h.Run(context.Background(), "LC_ALL=C apt-get update "+c.opts()+" 2>&1", nil)
	if err != nil {
		return "", false, err
	}
	out := string(res.Stdout)
	return out, res.ExitCode == 0 && !strings.Contains(out, "\nE: ") && !strings.Contains(out, "\nW: "), nil
}

func (c *aptClient) install(spec string, extra ...string) error {
	name, _, _ := strings.Cut(spec, "=")
	c.mu.Lock()
	c.pkgs = append(c.pkgs, name)
	c.mu.Unlock()
	_, err := runErr(c.h, "DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get install -y -q "+strings.Join(extra, " ")+" "+c.opts()+" "+q(spec)+" >/dev/null")
	return err
}

// installed returns "VERSION ARCH CONTENT" of an installed test package.
func (c *aptClient) installed(name string) string {
	out, err := runErr(c.h, "dpkg-query -W -f '${Version} ${Architecture} ' "+q(name)+" && cat /usr/share/pinery-test/"+q(name))
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(out)
}

// TestFleetInstall: apt on an amd64 and an arm64 board installs from a
// repository built by the library and served over HTTP, follows a new
// publish, and downgrades from a pinned snapshot.
func TestFleetInstall(t *testing.T) {
	hs := dialFleet(t, "h1", "h4")
	r := newTestRepo(t)
	r.add(t, "pinery-test-hello 1.0 amd64", "pinery-test-hello 1.0 arm64", "pinery-test-common 1 all")
	first := r.publish(t, PublishOptions{})
	url := serve(t, r.Dir)
	clients := make([]*aptClient, len(hs))
	for i, h := range hs {
		clients[i] = newAptClient(t, h)
	}
	// Both boards at once; each step returns what went wrong, if anything.
	both := func(step func(c *aptClient, arch string) error) {
		t.Helper()
		var wg sync.WaitGroup
		for i, c := range clients {
			arch := []string{"amd64", "arm64"}[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := step(c, arch); err != nil {
					t.Errorf("%s: %v", arch, err)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	update := func(c *aptClient) func() error {
		return func() error {
			out, ok, err := c.update()
			if err == nil && !ok {
				err = fmt.Errorf("apt-get update failed:\n%s", out)
			}
			return err
		}
	}
	install := func(c *aptClient, spec string, extra ...string) func() error {
		return func() error { return c.install(spec, extra...) }
	}
	want := func(c *aptClient, name, want string) func() error {
		return func() error {
			if got := c.installed(name); got != want {
				return fmt.Errorf("installed %q, want %q", got, want)
			}
			return nil
		}
	}
	source := func(c *aptClient, uri string) func() error {
		return func() error { return c.source(uri, "stable", r.pub) }
	}

	both(func(c *aptClient, arch string) error {
		return steps(source(c, url), update(c), install(c, "pinery-test-hello"), install(c, "pinery-test-common"),
			want(c, "pinery-test-hello", "1.0 "+arch+" pinery-test-hello 1.0"),
			want(c, "pinery-test-common", "1 all pinery-test-common 1"))
	})

	r.add(t, "pinery-test-hello 1.1 amd64", "pinery-test-hello 1.1 arm64")
	r.publish(t, PublishOptions{})
	both(func(c *aptClient, arch string) error {
		return steps(update(c), install(c, "pinery-test-hello"), want(c, "pinery-test-hello", "1.1 "+arch+" pinery-test-hello 1.1"))
	})

	// The first snapshot is a source of its own, pinned to what it held.
	both(func(c *aptClient, arch string) error {
		return steps(source(c, url+"/snapshots/"+first.Snapshot), update(c),
			install(c, "pinery-test-hello=1.0", "--allow-downgrades"), want(c, "pinery-test-hello", "1.0 "+arch+" pinery-test-hello 1.0"))
	})
}

// steps runs fs in order up to the first error.
func steps(fs ...func() error) error {
	for _, f := range fs {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// TestFleetTampered: apt refuses each damaged repository, and Verify says
// why in pinery's words.
func TestFleetTampered(t *testing.T) {
	h := dialFleet(t, "h1")[0]
	root := t.TempDir()
	url := serve(t, root)
	for i, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRepo(t)
			r.add(t, "pinery-test-hello 1.0 amd64")
			r.publish(t, PublishOptions{})
			tc.tamper(t, r)
			problems := strings.Join(Verify(r.Dir, "stable", time.Now()), "\n")
			if !regexp.MustCompile(tc.verify).MatchString(problems) {
				t.Errorf("Verify says\n%s\nwant %q", problems, tc.verify)
			}
			case_ := fmt.Sprintf("case%d", i)
			if err := os.Symlink(r.Dir, filepath.Join(root, case_)); err != nil {
				t.Fatal(err)
			}
			pub, _ := os.ReadFile(r.path("pubkey.asc"))
			c := newAptClient(t, h)
			if err := c.source(url+"/"+case_, "stable", pub); err != nil {
				t.Fatal(err)
			}
			out, ok, err := c.update()
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				t.Fatalf("apt-get update accepted the repository:\n%s", out)
			}
			found := false
			for _, want := range tc.apt {
				found = found || strings.Contains(out, want)
			}
			if !found {
				t.Fatalf("apt-get update failed, but not saying %q:\n%s", tc.apt, out)
			}
			t.Logf("apt: %s\npinery: %s", aptError(out), problems)
		})
	}
}

// aptError picks apt's error and warning lines out of its output.
func aptError(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") || strings.HasPrefix(l, "Err:") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestFleetPublishDuringUpdate: boards run apt-get update in a loop while
// new snapshots are published; by-hash and the atomic switch mean that no
// iteration ever sees a hash mismatch or fails.
func TestFleetPublishDuringUpdate(t *testing.T) {
	hs := dialFleet(t, "h1", "h4")
	iterations := []int{40, 12} // h4 runs under qemu: slower
	r := newTestRepo(t)
	r.add(t, "pinery-test-hello 1.0.0 amd64", "pinery-test-hello 1.0.0 arm64")
	r.publish(t, PublishOptions{})
	url := serve(t, r.Dir)

	type loop struct {
		out string
		err error
	}
	loops := make([]loop, len(hs))
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i, h := range hs {
		c := newAptClient(t, h)
		if err := c.source(url, "stable", r.pub); err != nil {
			t.Fatal(err)
		}
		// Each iteration prints "ok N HASH" (HASH: the InRelease it got)
		// or "FAIL N" and apt's output.
		script := fmt.Sprintf(`i=0
while [ $i -lt %d ]; do
  i=$((i+1))
  out=$(LC_ALL=C apt-get update %s 2>&1); rc=$?
  if [ $rc -ne 0 ] || printf '%%s\n' "$out" | grep -q '^[EW]: '; then printf 'FAIL %%s\n%%s\n' $i "$out"; continue; fi
  echo "ok $i $(cat %s/lists/*_InRelease | sha256sum | cut -c1-12)"
done
`, iterations[i], c.opts(), c.scratch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.Run(context.Background(), script, nil)
			loops[i] = loop{string(res.Stdout) + string(res.Stderr), err}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	start := time.Now()
	published := 0
publishing:
	for v := 1; published < 20; v++ {
		select {
		case <-done:
			break publishing
		case <-time.After(700 * time.Millisecond):
		}
		version := fmt.Sprintf("1.0.%d", v)
		r.add(t, "pinery-test-hello "+version+" amd64", "pinery-test-hello "+version+" arm64")
		if res := r.publish(t, PublishOptions{}); !res.Unchanged {
			published++
		}
	}
	<-done
	t.Logf("%d snapshots published in %s", published, time.Since(start).Round(time.Millisecond))
	for i, l := range loops {
		if l.err != nil {
			t.Fatalf("%s loop: %v", []string{"h1", "h4"}[i], l.err)
		}
		seen := map[string]bool{}
		oks := 0
		for _, line := range strings.Split(l.out, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "ok" {
				oks++
				seen[f[2]] = true
			}
		}
		t.Logf("%s: %d of %d iterations ok, %d different InRelease files seen", []string{"h1", "h4"}[i], oks, iterations[i], len(seen))
		if oks != iterations[i] || strings.Contains(l.out, "FAIL") {
			t.Errorf("%s: failed iterations:\n%s", []string{"h1", "h4"}[i], l.out)
		}
		if len(seen) < 3 {
			t.Errorf("%s saw only %d snapshots: the publishes did not overlap the updates", []string{"h1", "h4"}[i], len(seen))
		}
	}
	if published < 10 {
		t.Errorf("only %d snapshots published while the boards updated", published)
	}
}
