package file

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport"
)

func newFile(t *testing.T, vals map[string]cty.Value, sensitive ...string) *File {
	t.Helper()
	r, err := New(config(t, t.TempDir(), vals, sensitive...))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*File)
}

func str(s string) cty.Value { return cty.StringVal(s) }

func config(t *testing.T, base string, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "file", base, vals, sensitive...)
}

// The engine's way of driving a resource, shared by every module's tests,
// here on this machine.
func runProbe(t *testing.T, r resource.Resource) resource.ProbeResult {
	t.Helper()
	return resourcetest.Probe(t, transport.NewLocal(), r)
}

func plan(t *testing.T, r resource.Resource) *resource.Diff {
	t.Helper()
	return resourcetest.Plan(t, transport.NewLocal(), r)
}

func converge(t *testing.T, r resource.Resource) *resource.Diff {
	t.Helper()
	return resourcetest.Converge(t, transport.NewLocal(), r)
}
