package postgresrole

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

func str(s string) cty.Value { return cty.StringVal(s) }

func config(t *testing.T, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "postgres_role", "", vals, sensitive...)
}

func newRole(t *testing.T, vals map[string]cty.Value) *Role {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Role)
}
