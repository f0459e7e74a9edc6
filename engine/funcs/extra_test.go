package funcs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func TestExtraFunctions(t *testing.T) {
	for src, want := range map[string]cty.Value{
		`startswith("/srv/a", "/")`: cty.True,
		`startswith("srv", "/")`:    cty.False,
		`endswith("a.deb", ".deb")`: cty.True,
		`alltrue([true, 1 < 2])`:    cty.True,
		`alltrue([true, false])`:    cty.False,
		`alltrue([])`:               cty.True,
		`anytrue([false, true])`:    cty.True,
		`anytrue([])`:               cty.False,
		`sum([1, 2.5, 3])`:          cty.NumberFloatVal(6.5),
		`sum([])`:                   cty.Zero,
	} {
		expr, diags := hclsyntax.ParseExpression([]byte(src), "t.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		got, diags := expr.Value(&hcl.EvalContext{Functions: Table(t.TempDir())})
		if diags.HasErrors() || !got.RawEquals(want) && !(got.Type() == cty.Number && got.Equals(want).True()) {
			t.Errorf("%s = %#v %v, want %#v", src, got, diags, want)
		}
	}
}

func TestFileSHA256(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.whl"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	expr, _ := hclsyntax.ParseExpression([]byte(`filesha256("a.whl")`), "t.hcl", hcl.InitialPos)
	got, diags := expr.Value(&hcl.EvalContext{Functions: Table(dir)})
	if diags.HasErrors() || got.AsString() != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("filesha256 = %#v %v", got, diags)
	}
	expr, _ = hclsyntax.ParseExpression([]byte(`filesha256("missing")`), "t.hcl", hcl.InitialPos)
	if _, diags := expr.Value(&hcl.EvalContext{Functions: Table(dir)}); !diags.HasErrors() {
		t.Error("a missing file is no error")
	}
}
