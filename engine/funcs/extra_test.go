package funcs

import (
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
