package file

import (
	"context"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// config builds a Config as the engine does: every schema field present,
// defaults applied, null when unset.
func config(t *testing.T, base string, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("file")
	if !ok {
		t.Fatal("file type not registered")
	}
	cfg := resource.Config{Name: "test", BaseDir: base, Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
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

func newFile(t *testing.T, vals map[string]cty.Value, sensitive ...string) *File {
	t.Helper()
	r, err := New(config(t, t.TempDir(), vals, sensitive...))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*File)
}

// probe runs the probe as the engine does and checks it is quiet on stderr.
func runProbe(t *testing.T, r resource.Resource) resource.ProbeResult {
	t.Helper()
	res, err := transport.NewLocal().Run(context.Background(), "( "+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote on stderr: %s", res.Stderr)
	}
	return resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode}
}

func plan(t *testing.T, r resource.Resource) *resource.Diff {
	t.Helper()
	d, err := r.Plan(runProbe(t, r))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return d
}

// converge plans and applies, checks that a second plan is empty, and
// returns the first diff.
func converge(t *testing.T, r resource.Resource) *resource.Diff {
	t.Helper()
	d := plan(t, r)
	if err := r.Apply(context.Background(), transport.NewLocal(), d); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if again := plan(t, r); !again.Empty() {
		t.Fatalf("not converged after apply: %+v", again)
	}
	return d
}

func str(s string) cty.Value { return cty.StringVal(s) }
