package build

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	engineconfig "github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/resource"
)

// TestExample decodes the reference page's example with the engine's
// schema and builds every block of it, so that the page shows what works.
func TestExample(t *testing.T) {
	typ, _ := resource.Lookup("build")
	f, diags := hclsyntax.ParseConfig([]byte(typ.Example), "example.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	base := t.TempDir()
	if err := os.CopyFS(filepath.Join(base, "src", "hello"), os.DirFS("testdata/hello")); err != nil {
		t.Fatal(err)
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"host": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("h4")})}}
	blocks := f.Body.(*hclsyntax.Body).Blocks
	if len(blocks) != 2 {
		t.Fatalf("%d blocks", len(blocks))
	}
	for _, b := range blocks {
		_, remain, diags := b.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "when"}}})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		obj, diags := hcldec.Decode(remain, engineconfig.FieldSpec(typ), ctx)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", b.Labels[0], diags)
		}
		cfg := resource.Config{Name: b.Labels[0], BaseDir: base, Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
		for _, fd := range typ.Fields {
			v := obj.GetAttr(fd.Name)
			if v.IsNull() && fd.Default != cty.NilVal {
				v = fd.Default
			}
			cfg.Values[fd.Name] = v
		}
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: %v", b.Labels[0], err)
		}
	}
}
