// Package funcs is the function library of pinery's language: the HCL/cty
// standard library, file and template functions, and encodings.
package funcs

import (
	"crypto/sha256"
	"fmt"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-cty-funcs/cidr"
	"github.com/hashicorp/go-cty-funcs/crypto"
	"github.com/hashicorp/go-cty-funcs/encoding"
	"github.com/hashicorp/go-cty-funcs/filesystem"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	yaml "github.com/zclconf/go-cty-yaml"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Table returns the functions available to expressions of files in baseDir;
// relative paths given to file functions resolve against it.
func Table(baseDir string) map[string]function.Function {
	// Functions are immutable values: one table per directory serves every
	// host and resource of a run (callers must not modify it).
	if t, ok := tables.Load(baseDir); ok {
		return t.(map[string]function.Function)
	}
	t := base(baseDir)
	t["templatefile"] = makeTemplateFile(baseDir, func() map[string]function.Function { return base(baseDir) })
	// can and try, as in Terraform: validations like can(regex(...)).
	t["can"] = tryfunc.CanFunc
	t["try"] = tryfunc.TryFunc
	tables.Store(baseDir, t)
	return t
}

func base(baseDir string) map[string]function.Function {
	t := baseStd(baseDir)
	for k, f := range extra(baseDir) {
		t[k] = f
	}
	return t
}

func baseStd(baseDir string) map[string]function.Function {
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"log": stdlib.LogFunc, "max": stdlib.MaxFunc, "min": stdlib.MinFunc, "pow": stdlib.PowFunc,
		"signum": stdlib.SignumFunc, "parseint": stdlib.ParseIntFunc, "int": stdlib.IntFunc,

		"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
		"upper": stdlib.UpperFunc, "title": stdlib.TitleFunc, "split": stdlib.SplitFunc,
		"strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc, "trim": stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc,
		"trimspace": stdlib.TrimSpaceFunc, "replace": stdlib.ReplaceFunc,
		"regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc, "regex_replace": stdlib.RegexReplaceFunc,
		"strlen": stdlib.StrlenFunc,

		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc,
		"coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc,
		"element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc, "index": stdlib.IndexFunc,
		"keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc,
		"merge": stdlib.MergeFunc, "range": stdlib.RangeFunc, "reverse": stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc, "setproduct": stdlib.SetProductFunc,
		"setsubtract": stdlib.SetSubtractFunc, "setunion": stdlib.SetUnionFunc,
		"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "values": stdlib.ValuesFunc,
		"zipmap": stdlib.ZipmapFunc,

		"csvdecode": stdlib.CSVDecodeFunc, "jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc, "yamldecode": yaml.YAMLDecodeFunc,
		"yamlencode": yaml.YAMLEncodeFunc, "base64decode": encoding.Base64DecodeFunc,
		"base64encode": encoding.Base64EncodeFunc, "urlencode": encoding.URLEncodeFunc,

		"md5": crypto.Md5Func, "sha1": crypto.Sha1Func, "sha256": crypto.Sha256Func,
		"sha512": crypto.Sha512Func, "bcrypt": crypto.BcryptFunc,

		"cidrhost": cidr.HostFunc, "cidrnetmask": cidr.NetmaskFunc, "cidrsubnet": cidr.SubnetFunc,

		"formatdate": stdlib.FormatDateFunc, "timeadd": stdlib.TimeAddFunc,

		"file": filesystem.MakeFileFunc(baseDir, false), "filebase64": filesystem.MakeFileFunc(baseDir, true),
		"fileexists": filesystem.MakeFileExistsFunc(baseDir), "fileset": filesystem.MakeFileSetFunc(baseDir),
		"basename": filesystem.BasenameFunc, "dirname": filesystem.DirnameFunc,
		"abspath": filesystem.AbsPathFunc, "pathexpand": filesystem.PathExpandFunc,

		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	}
}

// RenderTemplate renders an HCL template (the ${...} and %{...} syntax) with
// vars and the function table of baseDir. Diagnostics carry the template's
// own file:line:column.
func RenderTemplate(src []byte, filename, baseDir string, vars map[string]cty.Value) (cty.Value, hcl.Diagnostics) {
	expr, diags := parseTemplate(src, filename)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	ctx := &hcl.EvalContext{Variables: vars, Functions: Table(baseDir)}
	v, d := expr.Value(ctx)
	return v, append(diags, d...)
}

var (
	tables    sync.Map // base directory → function table
	templates sync.Map // templateKey → parsedTemplate
)

type templateKey struct {
	name string
	sum  [32]byte
}

type parsedTemplate struct {
	expr  hclsyntax.Expression
	diags hcl.Diagnostics
}

// parseTemplate parses a template once per run for all the hosts and
// resources that render it: a parsed template is read-only when evaluated.
func parseTemplate(src []byte, filename string) (hclsyntax.Expression, hcl.Diagnostics) {
	key := templateKey{filename, sha256.Sum256(src)}
	if p, ok := templates.Load(key); ok {
		return p.(parsedTemplate).expr, p.(parsedTemplate).diags
	}
	expr, diags := hclsyntax.ParseTemplate(src, filename, hcl.InitialPos)
	templates.Store(key, parsedTemplate{expr, diags})
	return expr, diags
}

func makeTemplateFile(baseDir string, table func() map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Description: "Renders a template file with the given variables.",
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type:         function.StaticReturnType(cty.String),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := args[0].AsString()
			if !filepath.IsAbs(path) {
				path = filepath.Join(baseDir, path)
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return cty.DynamicVal, fmt.Errorf("templatefile: %w", err)
			}
			vars := map[string]cty.Value{}
			if v := args[1]; !v.IsNull() {
				if !v.Type().IsObjectType() && !v.Type().IsMapType() {
					return cty.DynamicVal, function.NewArgErrorf(1, "vars must be an object or map")
				}
				for it := v.ElementIterator(); it.Next(); {
					k, e := it.Element()
					vars[k.AsString()] = e
				}
			}
			expr, diags := parseTemplate(src, path)
			if diags.HasErrors() {
				return cty.DynamicVal, diags
			}
			// A template may call functions but not templatefile itself,
			// which rules out unbounded recursion.
			out, diags := expr.Value(&hcl.EvalContext{Variables: vars, Functions: table()})
			if diags.HasErrors() {
				return cty.DynamicVal, diags
			}
			out, err = convertString(out)
			return out, err
		},
	})
}

func convertString(v cty.Value) (cty.Value, error) {
	if v.Type() == cty.String {
		return v, nil
	}
	return cty.DynamicVal, fmt.Errorf("template produced %s, not a string", v.Type().FriendlyName())
}
