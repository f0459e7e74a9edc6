package zramswap

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func newZram(t *testing.T, vals map[string]cty.Value) *ZramSwap {
	t.Helper()
	r, err := New(resourcetest.Config(t, "zram_swap", "", vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*ZramSwap)
}

func str(s string) cty.Value { return cty.StringVal(s) }

func strs(ss ...string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	var vs []cty.Value
	for _, s := range ss {
		vs = append(vs, cty.StringVal(s))
	}
	return cty.ListVal(vs)
}

func num(i int64) cty.Value { return resource.Num(i) }

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func resourcetestConfig(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "zram_swap", "", vals)
}

func itoa(i int) string { return strconv.Itoa(i) }

// applyText is the apply script of a fresh host, for syntax checks.
func applyText(t *testing.T) string {
	t.Helper()
	r := &recorder{}
	z := newZram(t, nil)
	_ = z.Apply(context.Background(), r, &resource.Diff{Action: resource.Create, Private: &Private{Write: true, Enable: true, Restart: true}})
	_ = z.Apply(context.Background(), r, &resource.Diff{Action: resource.Delete, Private: &Private{Remove: true}})
	return strings.Join(r.cmds, "\n")
}

// recorder keeps the commands it is given and runs none.
type recorder struct{ cmds []string }

func (r *recorder) Run(_ context.Context, cmd string, _ io.Reader) (resource.Result, error) {
	r.cmds = append(r.cmds, cmd)
	return resource.Result{}, nil
}
