package postgresdatabase

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

func str(s string) cty.Value { return cty.StringVal(s) }

func config(t *testing.T, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "postgres_database", "", vals, sensitive...)
}

func newDatabase(t *testing.T, vals map[string]cty.Value) *Database {
	t.Helper()
	d, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d.(*Database)
}
