package pythonvenv

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	engineconfig "github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/funcs"
	"github.com/pinery/pinery/engine/resource"
)

// TestExample decodes the reference page's python_venv blocks with the
// engine's schema and functions (file() reads testdata) and builds them,
// so that the page shows what works.
func TestExample(t *testing.T) {
	typ, _ := resource.Lookup("python_venv")
	f, diags := hclsyntax.ParseConfig([]byte(typ.Example), "example.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := &hcl.EvalContext{Functions: funcs.Table("testdata")}
	n := 0
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "python_venv" {
			continue
		}
		n++
		_, remain, diags := b.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "depends_on"}}})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		obj, diags := hcldec.Decode(remain, engineconfig.FieldSpec(typ), ctx)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", b.Labels[0], diags)
		}
		vals := map[string]cty.Value{}
		for _, fd := range typ.Fields {
			if v := obj.GetAttr(fd.Name); !v.IsNull() {
				vals[fd.Name] = v
			}
		}
		if _, err := New(config(t, vals)); err != nil {
			t.Errorf("%s: %v", b.Labels[0], err)
		}
	}
	if n != 2 {
		t.Fatalf("%d python_venv blocks in the example, want 2", n)
	}
}
