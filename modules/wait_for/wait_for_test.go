package waitfor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

var ctx = context.Background()

func s(v string) cty.Value { return cty.StringVal(v) }
func n(i int64) cty.Value  { return resource.Num(i) }

// config builds a Config as the engine does: every field, defaults applied.
func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("wait_for")
	if !ok {
		t.Fatal("wait_for not registered")
	}
	c := resource.Config{Name: "t", Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
	for _, f := range typ.Fields {
		v, ok := vals[f.Name]
		switch {
		case ok:
		case f.Default != cty.NilVal:
			v = f.Default
		default:
			v = cty.NullVal(f.Type)
		}
		c.Values[f.Name] = v
	}
	for k := range vals {
		if _, ok := c.Values[k]; !ok {
			t.Fatalf("no field %q", k)
		}
	}
	return c
}

func mustNew(t *testing.T, vals map[string]cty.Value) *WaitFor {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*WaitFor)
}

func TestNew(t *testing.T) {
	half := cty.NumberFloatVal(0.5)
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
	}{
		{"port", map[string]cty.Value{"port": n(8080)}, ""},
		{"port host", map[string]cty.Value{"port": n(5432), "host": s("db-1.internal")}, ""},
		{"port ipv6", map[string]cty.Value{"port": n(22), "host": s("::1")}, ""},
		{"url", map[string]cty.Value{"url": s("https://example.org/health?x=1"), "status": n(204)}, ""},
		{"command", map[string]cty.Value{"command": s("pg_isready"), "interval": half, "timeout": n(5)}, ""},
		{"none", nil, "port"},
		{"two", map[string]cty.Value{"port": n(80), "url": s("http://x/")}, "url"},
		{"three", map[string]cty.Value{"port": n(80), "command": s("true")}, "command"},
		{"port 0", map[string]cty.Value{"port": n(0)}, "port"},
		{"port big", map[string]cty.Value{"port": n(65536)}, "port"},
		{"port fraction", map[string]cty.Value{"port": half}, "port"},
		{"host injection", map[string]cty.Value{"port": n(80), "host": s("x/$(reboot)")}, "host"},
		{"host space", map[string]cty.Value{"port": n(80), "host": s("a b")}, "host"},
		{"host dash", map[string]cty.Value{"port": n(80), "host": s("-x")}, "host"},
		{"host empty", map[string]cty.Value{"port": n(80), "host": s("")}, "host"},
		{"host with url", map[string]cty.Value{"url": s("http://x/"), "host": s("y")}, "host"},
		{"url ftp", map[string]cty.Value{"url": s("ftp://x/")}, "url"},
		{"url no host", map[string]cty.Value{"url": s("http:///x")}, "url"},
		{"url space", map[string]cty.Value{"url": s("http://x/a b")}, "url"},
		{"url newline", map[string]cty.Value{"url": s("http://x/\n")}, "url"},
		{"url empty", map[string]cty.Value{"url": s("")}, "url"},
		{"status low", map[string]cty.Value{"url": s("http://x/"), "status": n(99)}, "status"},
		{"status with port", map[string]cty.Value{"port": n(80), "status": n(204)}, "status"},
		{"command empty", map[string]cty.Value{"command": s(" ")}, "command"},
		{"command NUL", map[string]cty.Value{"command": s("a\x00")}, "command"},
		{"timeout 0", map[string]cty.Value{"port": n(80), "timeout": n(0)}, "timeout"},
		{"timeout fraction", map[string]cty.Value{"port": n(80), "timeout": half}, "timeout"},
		{"interval 0", map[string]cty.Value{"port": n(80), "interval": n(0)}, "interval"},
		{"interval > timeout", map[string]cty.Value{"port": n(80), "interval": n(10), "timeout": n(5)}, "interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("want an error on %q, got %v", tt.field, err)
			}
			t.Log(err)
		})
	}
}

func TestPlan(t *testing.T) {
	port := mustNew(t, map[string]cty.Value{"port": n(8080)})
	tests := []struct {
		name   string
		w      *WaitFor
		out    string
		action resource.Action
		old    string
	}{
		{"ready", port, "ready=1\n", resource.NoOp, ""},
		{"closed", port, "ready=0\nseen=not open yet\n", resource.Run, "port 8080 on 127.0.0.1 not open yet"},
		{"url", mustNew(t, map[string]cty.Value{"url": s("http://x/h")}), "ready=0\nseen=answered 503, not 200\n", resource.Run, "http://x/h answered 503, not 200"},
		{"command", mustNew(t, map[string]cty.Value{"command": s("false")}), "ready=0\nseen=exited 1: no\n", resource.Run, "command exited 1: no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.w.Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v", d.Action, tt.action)
			}
			if tt.old != "" && (len(d.Changes) != 1 || d.Changes[0].Old != tt.old) {
				t.Fatalf("changes %+v, want old %q", d.Changes, tt.old)
			}
		})
	}
	for _, bad := range []string{"", "ready=2\n", "hello"} {
		if _, err := port.Plan(resource.ProbeResult{Stdout: []byte(bad)}); err == nil {
			t.Errorf("probe output %q: no error", bad)
		}
	}
	if _, err := port.Plan(resource.ProbeResult{Stdout: []byte("ready=1\n"), ExitCode: 2}); err == nil {
		t.Error("a failed probe planned")
	}
}

// probe runs the snippet as the engine does and plans.
func probe(t *testing.T, h resource.Runner, w *WaitFor) *resource.Diff {
	t.Helper()
	res, err := h.Run(ctx, "LC_ALL=C; export LC_ALL\n(\n"+w.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote on stderr: %s", res.Stderr)
	}
	d, err := w.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return d
}

// pathRunner runs commands locally with PATH restricted to a directory of
// links to every program in /usr/bin except some, to test the fallbacks.
type pathRunner struct{ dir string }

func without(t *testing.T, except ...string) pathRunner {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir("/usr/bin")
	if err != nil {
		t.Fatal(err)
	}
next:
	for _, e := range ents {
		for _, x := range except {
			if e.Name() == x || strings.HasPrefix(e.Name(), x) && x == "python3" {
				continue next
			}
		}
		if err := os.Symlink(filepath.Join("/usr/bin", e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return pathRunner{dir}
}

func (p pathRunner) Run(ctx context.Context, cmd string, stdin io.Reader) (resource.Result, error) {
	return transport.NewLocal().Run(ctx, "PATH="+p.dir+"; export PATH\n"+cmd, stdin)
}

func have(t *testing.T, prog string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/usr/bin", prog)); err != nil {
		t.Skipf("no /usr/bin/%s on this machine", prog)
	}
}

// TestURLClientsLocal checks each HTTP client of the fallback chain against
// a real server on the controller.
func TestURLClientsLocal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/teapot":
			w.WriteHeader(418)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
		}
	}))
	defer srv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()

	clients := map[string]pathRunner{
		"curl":    without(t),
		"wget":    without(t, "curl"),
		"python3": without(t, "curl", "wget"),
	}
	for name, h := range clients {
		t.Run(name, func(t *testing.T) {
			have(t, name)
			for _, tt := range []struct {
				url    string
				status int64
				ready  bool
				seen   string
			}{
				{srv.URL + "/ok", 200, true, ""},
				{srv.URL + "/teapot", 418, true, ""},
				{srv.URL + "/teapot", 200, false, "answered 418, not 200"},
				{srv.URL + "/moved", 301, true, ""},
				{srv.URL + "/moved", 200, false, "answered 301, not 200"},
				{closed, 200, false, "not reachable: "},
			} {
				w := mustNew(t, map[string]cty.Value{"url": s(tt.url), "status": n(tt.status), "timeout": n(3)})
				d := probe(t, h, w)
				if d.Empty() != tt.ready {
					t.Errorf("%s (want %d): plan %+v, want ready=%v", tt.url, tt.status, d, tt.ready)
					continue
				}
				if !tt.ready && !strings.Contains(d.Changes[0].Old, tt.seen) {
					t.Errorf("%s: plan says %q, want %q", tt.url, d.Changes[0].Old, tt.seen)
				}
				t.Logf("%s: %+v", name, d.Changes)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		h := without(t, "curl", "wget", "python3")
		w := mustNew(t, map[string]cty.Value{"url": s(srv.URL + "/ok"), "timeout": n(3)})
		d := probe(t, h, w)
		if d.Empty() || !strings.Contains(d.Changes[0].Old, "install curl") {
			t.Fatalf("plan %+v, want a missing client", d)
		}
		start := time.Now()
		err := w.Apply(ctx, h, d)
		if err == nil || !strings.Contains(err.Error(), "none of curl, wget or python3") {
			t.Fatalf("apply: %v", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("a missing client waited for the timeout")
		}
		t.Log(err)
	})
}

// h2 connects to a fleet host.
func h2(t *testing.T) transport.Host { return fleettest.Dial(t, "h2") }

func run(t *testing.T, h resource.Runner, cmd string) string {
	t.Helper()
	res, err := h.Run(ctx, cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(cmd); err != nil {
		t.Fatal(err)
	}
	return string(res.Stdout)
}

func unique() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// freePort finds a port nothing listens on, on the host.
func freePort(t *testing.T, h resource.Runner) int {
	t.Helper()
	out := run(t, h, `python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'`)
	var p int
	if _, err := fmt.Sscan(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveLater starts, with systemd-run, an HTTP server on the host that
// listens after delay; it is stopped when the test ends. (A timer's default
// accuracy is a minute: AccuracySec makes it fire on time.)
func serveLater(t *testing.T, h resource.Runner, port int, delay string) {
	t.Helper()
	unit := "pinery-test-wait-" + unique()
	dir := "/tmp/" + unit
	run(t, h, fmt.Sprintf("mkdir -p %s && echo hi >%s/index.html && systemd-run --quiet --unit=%s --on-active=%s --timer-property=AccuracySec=100ms -p WorkingDirectory=%s python3 -m http.server --bind 127.0.0.1 %d", dir, dir, unit, delay, dir, port))
	t.Cleanup(func() {
		_, _ = h.Run(context.Background(), fmt.Sprintf("systemctl stop %s.timer %s.service 2>/dev/null; systemctl reset-failed %s.service %s.timer 2>/dev/null; rm -rf %s", unit, unit, unit, unit, dir), nil)
	})
}

func TestFleetPortAndURL(t *testing.T) {
	h := h2(t)
	out := run(t, h, "for p in curl wget python3 bash systemd-run timeout; do command -v $p; done; :")
	t.Logf("on h2: %s", strings.Fields(out))
	port := freePort(t, h)
	serveLater(t, h, port, "3")

	wp := mustNew(t, map[string]cty.Value{"port": n(int64(port)), "timeout": n(30)})
	wu := mustNew(t, map[string]cty.Value{"url": s(fmt.Sprintf("http://127.0.0.1:%d/index.html", port)), "timeout": n(30)})
	d := probe(t, h, wp)
	if d.Action != resource.Run || !strings.Contains(d.Changes[0].Old, "not open yet") {
		t.Fatalf("plan before the server: %+v", d)
	}
	du := probe(t, h, wu)
	if du.Action != resource.Run || !strings.Contains(du.Changes[0].Old, "not reachable") {
		t.Fatalf("url plan before the server: %+v", du)
	}
	t.Logf("plans: %+v %+v", d.Changes, du.Changes)
	start := time.Now()
	if err := wp.Apply(ctx, h, d); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if el := time.Since(start); el < time.Second || el > 20*time.Second {
		t.Errorf("waited %v for a port opening after about 3 s", el)
	}
	if err := wu.Apply(ctx, h, du); err != nil {
		t.Fatalf("url apply: %v", err)
	}
	for _, w := range []*WaitFor{wp, wu} {
		if d := probe(t, h, w); !d.Empty() {
			t.Fatalf("not ready after apply: %+v", d)
		}
	}
	// A refresh when already ready returns at once and says nothing.
	if did, err := wp.Refresh(ctx, h); err != nil || did != "" {
		t.Fatalf("refresh = %q, %v", did, err)
	}
	// The wrong status times out, saying what it saw.
	bad := mustNew(t, map[string]cty.Value{"url": s(fmt.Sprintf("http://127.0.0.1:%d/missing", port)), "timeout": n(2)})
	err := bad.Apply(ctx, h, probe(t, h, bad))
	if err == nil || !strings.Contains(err.Error(), "not ready after 2 s; last check: answered 404, not 200") {
		t.Fatalf("apply with a wrong status: %v", err)
	}
	t.Log(err)
}

func TestFleetTimeout(t *testing.T) {
	h := h2(t)
	port := freePort(t, h)
	w := mustNew(t, map[string]cty.Value{"port": n(int64(port)), "timeout": n(3), "interval": cty.NumberFloatVal(0.5)})
	d := probe(t, h, w)
	if d.Empty() {
		t.Fatal("a closed port planned as ready")
	}
	start := time.Now()
	err := w.Apply(ctx, h, d)
	el := time.Since(start)
	want := fmt.Sprintf("wait_for port %d on 127.0.0.1: not ready after 3 s; last check: not open yet", port)
	if err == nil || err.Error() != want {
		t.Fatalf("apply: %v, want %q", err, want)
	}
	if el < 2*time.Second || el > 10*time.Second {
		t.Errorf("timed out after %v, want about 3 s", el)
	}
}

func TestFleetCommand(t *testing.T) {
	h := h2(t)
	flag := "/tmp/pinery-test-wait-" + unique()
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -f "+flag, nil) })
	w := mustNew(t, map[string]cty.Value{"command": s("test -e " + flag + " || { echo \"no $0 flag yet\" >&2; exit 3; }"), "timeout": n(20)})
	d := probe(t, h, w)
	if d.Action != resource.Run || d.Changes[0].Old != "command exited 3: no sh flag yet" {
		t.Fatalf("plan: %+v", d.Changes)
	}
	unit := "pinery-test-wait-" + unique()
	run(t, h, "systemd-run --quiet --unit="+unit+" --on-active=2 --timer-property=AccuracySec=100ms touch "+flag)
	t.Cleanup(func() {
		_, _ = h.Run(context.Background(), "systemctl stop "+unit+".timer 2>/dev/null; systemctl reset-failed "+unit+".service "+unit+".timer 2>/dev/null; :", nil)
	})
	waited, err := w.wait(ctx, h)
	if err != nil || !waited {
		t.Fatalf("wait = %v, %v", waited, err)
	}
	if d := probe(t, h, w); !d.Empty() {
		t.Fatalf("plan after: %+v", d)
	}

	// A command that hangs is cut off at the deadline.
	hang := mustNew(t, map[string]cty.Value{"command": s("echo starting; sleep 100"), "timeout": n(2)})
	start := time.Now()
	err = hang.Apply(ctx, h, &resource.Diff{Action: resource.Run})
	if err == nil || !strings.Contains(err.Error(), "not ready after 2 s; last check: timed out after") || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("apply: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("a hanging command held the wait for %v", el)
	}
	t.Log(err)
}
