package line

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

func newLine(t *testing.T, vals map[string]cty.Value, sensitive ...string) *Line {
	t.Helper()
	r, err := New(config(t, vals, sensitive...))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Line)
}

func str(s string) cty.Value { return cty.StringVal(s) }

// host connects to a fleet host (skipping without a fleet) and gives a
// scratch directory on it, removed when the test ends.
func host(t *testing.T) (resource.Runner, string) {
	t.Helper()
	conn := fleettest.Dial(t, "h2")
	var b [6]byte
	_, _ = rand.Read(b[:])
	dir := "/tmp/pinery-test-" + hex.EncodeToString(b[:])
	run(t, conn, "mkdir -m 0755 -- "+dir)
	t.Cleanup(func() { _, _ = conn.Run(context.Background(), "rm -rf -- "+dir, nil) })
	return conn, dir
}

func q(s string) string { return shellescape.Quote(s) }

// leftovers lists temporary files an apply left in dir.
func leftovers(t *testing.T, h resource.Runner, dir string) string {
	t.Helper()
	return strings.TrimSpace(run(t, h, "cd "+q(dir)+" && for f in .pinery-*; do [ -e \"$f\" ] || [ -L \"$f\" ] && echo \"$f\"; done; :"))
}

// put writes a file on the host, byte for byte.
func put(t *testing.T, h resource.Runner, path, content string) {
	t.Helper()
	res, err := h.Run(context.Background(), "cat >"+q(path), strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err("writing " + path); err != nil {
		t.Fatal(err)
	}
}

// get reads a file on the host, byte for byte.
func get(t *testing.T, h resource.Runner, path string) string {
	t.Helper()
	return run(t, h, "cat -- "+q(path))
}

func config(t *testing.T, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "line", "", vals, sensitive...)
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
