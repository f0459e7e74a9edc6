package mount

import (
	"testing"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

func newMount(t *testing.T, vals map[string]cty.Value) *Mount {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Mount)
}

func str(s string) cty.Value { return cty.StringVal(s) }

func q(s string) string { return shellescape.Quote(s) }

func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "mount", "", vals)
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
