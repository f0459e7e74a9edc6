package systemdunit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// config builds a Config as the engine does: every schema field present,
// defaults applied, null when unset.
func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("systemd_unit")
	if !ok {
		t.Fatal("systemd_unit type not registered")
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

// runProbe runs the probe as the engine does and checks it is quiet on
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
