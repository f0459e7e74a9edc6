package systemdunit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

func newUnit(t *testing.T, vals map[string]cty.Value) *Unit {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Unit)
}

func str(s string) cty.Value { return cty.StringVal(s) }

func token() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func host(t *testing.T) transport.Host {
	t.Helper()
	return fleettest.Dial(t, "h1")
}

// converge plans every unit, applies them together as the engine groups
// them, checks that a second probe and plan are empty, and returns the
// first diffs.
func converge(t *testing.T, h resource.Runner, us ...*Unit) []*resource.Diff {
	t.Helper()
	rs := make([]resource.Resource, len(us))
	ds := make([]*resource.Diff, len(us))
	for i, u := range us {
		rs[i], ds[i] = u, plan(t, h, u)
	}
	if err := us[0].ApplyAll(context.Background(), h, rs, ds); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, u := range us {
		if again := plan(t, h, u); !again.Empty() {
			t.Fatalf("%s not converged after apply: %+v", u.path, again)
		}
	}
	return ds
}

func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "systemd_unit", "", vals)
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
