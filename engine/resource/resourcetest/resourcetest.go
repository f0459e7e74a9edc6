// Package resourcetest drives one resource the way the engine does, for
// the tests of modules: a Config built from the type's schema, the probe
// run as the engine runs it, plan, apply, and the check that a second plan
// is empty.
package resourcetest

import (
	"context"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// timeout bounds one probe or apply in a test.
const timeout = time.Minute

// Config builds a Config as the engine does: every schema field present,
// defaults applied, null when unset; fields the schema marks sensitive are
// sensitive, and so are the fields named in sensitive (as when their value
// comes from a sensitive variable).
func Config(t testing.TB, typeName, baseDir string, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup(typeName)
	if !ok {
		t.Fatalf("%s type not registered", typeName)
	}
	cfg := resource.Config{Name: "test", BaseDir: baseDir, Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
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
		if f.Sensitive {
			cfg.Sensitive[f.Name] = true
		}
	}
	for k := range vals {
		if _, ok := cfg.Values[k]; !ok {
			t.Fatalf("no field %q in the schema", k)
		}
	}
	for _, s := range sensitive {
		cfg.Sensitive[s] = true
	}
	return cfg
}

// Probe runs r's probe on h as the engine does (LC_ALL=C, a subshell, no
// stdin) and fails the test if it writes on stderr.
func Probe(t testing.TB, h resource.Runner, r resource.Resource) resource.ProbeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := h.Run(ctx, "LC_ALL=C; export LC_ALL\n(\n"+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote on stderr: %s", res.Stderr)
	}
	return resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode}
}

// Plan probes and plans r, failing the test on an error.
func Plan(t testing.TB, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	d, err := r.Plan(Probe(t, h, r))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return d
}

// Converge plans and applies r, checks that a second probe and plan are
// empty, and returns the first diff.
func Converge(t testing.TB, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	d := Plan(t, h, r)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.Apply(ctx, h, d); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if again := Plan(t, h, r); !again.Empty() {
		t.Fatalf("not converged after apply: %+v", again.Changes)
	}
	return d
}

// Run runs a command on h and fails the test unless it succeeds; it
// returns the command's stdout.
func Run(t testing.TB, h resource.Runner, cmd string) string {
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
