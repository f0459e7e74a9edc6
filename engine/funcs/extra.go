package funcs

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Functions Terraform has and go-cty's stdlib does not; written here because
// they are a few lines each.

// prefixFunc is startswith or endswith.
func prefixFunc(test func(s, affix string) bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "string", Type: cty.String}, {Name: "affix", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(test(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

// boolsFunc is alltrue or anytrue over a list or set of bools: alltrue([])
// is true, anytrue([]) false, as in Terraform.
func boolsFunc(all bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				_, v := it.Element()
				if v.IsNull() {
					return cty.False, nil
				}
				if v.True() != all {
					return cty.BoolVal(!all), nil
				}
			}
			return cty.BoolVal(all), nil
		},
	})
}

// sumFunc adds a list of numbers.
var sumFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Number)}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		total := cty.Zero
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() {
				return cty.NilVal, function.NewArgErrorf(0, "sum of a list with a null element")
			}
			total = total.Add(v)
		}
		return total, nil
	},
})

// fileSHA256Func is Terraform's filesha256: the hex SHA-256 of a file on
// the controller, relative to baseDir (for checksums in generated indexes,
// such as a wheelhouse's #sha256= links).
func fileSHA256Func(baseDir string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			f, err := os.Open(p)
			if err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			defer f.Close()
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			return cty.StringVal(hex.EncodeToString(h.Sum(nil))), nil
		},
	})
}

// nonsensitiveFunc is Terraform's nonsensitive: the value without its
// sensitive mark, for what the author knows is safe to show (the names of
// a map of secrets, say). The only marks pinery uses are sensitivity marks.
var nonsensitiveFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowMarked: true, AllowNull: true, AllowUnknown: true}},
	Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, _ := args[0].UnmarkDeep()
		return v, nil
	},
})

func extra(baseDir string) map[string]function.Function {
	return map[string]function.Function{
		"nonsensitive": nonsensitiveFunc,
		"filesha256":   fileSHA256Func(baseDir),
		"startswith":   prefixFunc(strings.HasPrefix), "endswith": prefixFunc(strings.HasSuffix),
		"alltrue": boolsFunc(true), "anytrue": boolsFunc(false), "sum": sumFunc,
	}
}
