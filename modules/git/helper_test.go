package git

import (
	"context"
	"testing"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// config builds a Config as the engine does: every schema field present,
// defaults applied, null when unset.
func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("git")
	if !ok {
		t.Fatal("git type not registered")
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

func newGit(t *testing.T, vals map[string]cty.Value) *Git {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Git)
}

func str(s string) cty.Value { return cty.StringVal(s) }

func q(s string) string { return shellescape.Quote(s) }

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
