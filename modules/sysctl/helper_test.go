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
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

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

func q(s string) string { return shellescape.Quote(s) }

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

func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "sysctl", "", vals)
}

func run(t *testing.T, h resource.Runner, cmd string) string {
	t.Helper()
	return resourcetest.Run(t, h, cmd)
}

// The engine's way of driving a resource, shared by every module's tests.
func runProbe(t *testing.T, h resource.Runner, r resource.Resource) resource.ProbeResult {
	t.Helper()
	return resourcetest.Probe(t, h, r)
}

func plan(t *testing.T, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	return resourcetest.Plan(t, h, r)
}

func converge(t *testing.T, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	return resourcetest.Converge(t, h, r)
}
