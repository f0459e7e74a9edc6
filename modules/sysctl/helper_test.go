package sysctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// config builds a Config as the engine does: every schema field present,
// defaults applied, null when unset.
func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("sysctl")
	if !ok {
		t.Fatal("sysctl type not registered")
	}
	cfg := resource.Config{Name: "test", Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
	for _, f := range typ.Fields {
		v, ok := vals[f.Name]
		switch {
		case ok:
		case f.Default != cty.NilVal:
			v = f.Default
		default:
			v = cty.NullVal(f.Type)
		}
		cfg.Values[f.Name] = v
	}
	for k := range vals {
		if _, ok := cfg.Values[k]; !ok {
			t.Fatalf("no field %q in the schema", k)
		}
	}
	return cfg
}

func newSysctl(t *testing.T, vals map[string]cty.Value) *Sysctl {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Sysctl)
}

func str(s string) cty.Value { return cty.StringVal(s) }

// host connects to a fleet host (skipping without a fleet).
func host(t *testing.T) transport.Host {
	t.Helper()
	return fleettest.Dial(t, "h2")
}

// token is a random name part, for files a test leaves on the host.
func token() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// run runs a command on the host and fails the test unless it succeeds.
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

// runProbe runs the probe as the engine does, and checks it is quiet on
// stderr.
func runProbe(t *testing.T, h resource.Runner, r resource.Resource) resource.ProbeResult {
	t.Helper()
	res, err := h.Run(context.Background(), "LC_ALL=C; export LC_ALL\n(\n"+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote on stderr: %s", res.Stderr)
	}
	return resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode}
}

func plan(t *testing.T, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	d, err := r.Plan(runProbe(t, h, r))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return d
}

// converge probes, plans and applies, checks that a second probe and plan
// are empty, and returns the first diff.
func converge(t *testing.T, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	d := plan(t, h, r)
	if err := r.Apply(context.Background(), h, d); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if again := plan(t, h, r); !again.Empty() {
		t.Fatalf("not converged after apply: %+v", again)
	}
	return d
}

// netns is a fleet host seen from a network namespace of its own, as a
// container with private networking sees the kernel: /proc/sys read-only
// except /proc/sys/net. The fleet's containers have no writable key at all
// (/proc/sys is read-only there, and CAP_NET_ADMIN is dropped), so this is
// where a running value can really be set. Commands run unchanged, through
// nsenter; the namespace goes when the test ends.
type netns struct {
	h   resource.Runner
	pid string
}

func (n *netns) Run(ctx context.Context, cmd string, stdin io.Reader) (resource.Result, error) {
	return n.h.Run(ctx, "exec nsenter -t "+n.pid+" -n -m -- sh -c "+q(cmd), stdin)
}

// newNetns makes the namespace: a fresh proc (so that /proc/sys/net is
// this namespace's), then /proc/sys bound read-only over it, then net
// bound writable again. It checks that nothing outside net is writable
// before any test uses it: the rest of /proc/sys is the machine's kernel.
func newNetns(t *testing.T, h resource.Runner) *netns {
	t.Helper()
	m := "/tmp/pinery-netns-" + token()
	setup := `set -e
mount -t proc proc /proc
mount --bind /proc/sys/net "$1"
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --bind "$1" /proc/sys/net
umount "$1"
if [ -w /proc/sys/vm/swappiness ] || [ -w /proc/sys/kernel/hostname ] || [ ! -w /proc/sys/net/core/somaxconn ]; then
  echo "the namespace's /proc/sys is not as expected" >&2; exit 1
fi
echo $$ >"$1.pid"
exec sleep 600`
	pid := strings.TrimSpace(run(t, h, "m="+q(m)+"\nmkdir -- \"$m\"\n"+
		"setsid unshare -n -m --propagation private sh -c "+q(setup)+" sh \"$m\" </dev/null >/dev/null 2>\"$m.err\" &\n"+
		"i=0; while [ ! -s \"$m.pid\" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\n"+
		"if [ -s \"$m.pid\" ]; then cat \"$m.pid\"; else cat \"$m.err\" >&2; exit 1; fi"))
	t.Cleanup(func() {
		_, _ = h.Run(context.Background(), "kill "+pid+"; rm -rf -- "+q(m)+" "+q(m+".pid")+" "+q(m+".err"), nil)
	})
	return &netns{h: h, pid: pid}
}
