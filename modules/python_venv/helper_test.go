package pythonvenv

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

func str(s string) cty.Value { return cty.StringVal(s) }

func list(ss ...string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.StringVal(s)
	}
	return cty.ListVal(vs)
}

func config(t testing.TB, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "python_venv", "", vals, sensitive...)
}

func newVenv(t testing.TB, vals map[string]cty.Value, sensitive ...string) *Venv {
	t.Helper()
	r, err := New(config(t, vals, sensitive...))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Venv)
}

func run(t testing.TB, h resource.Runner, cmd string) string {
	t.Helper()
	return resourcetest.Run(t, h, cmd)
}

func plan(t testing.TB, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	return resourcetest.Plan(t, h, r)
}

func converge(t testing.TB, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	return resourcetest.Converge(t, h, r)
}
