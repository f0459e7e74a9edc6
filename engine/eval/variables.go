// Package eval evaluates a loaded site: input variables once per run, then
// locals and resources per host, ordered by their references.
package eval

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/funcs"
)

// Sensitive is the cty mark carried by sensitive values. Anything derived
// from a marked value keeps the mark, which is how a secret stays hidden
// through expressions and templates.
const Sensitive = "sensitive"

// Inputs are variable values given from outside the site.
type Inputs struct {
	Vars     map[string]string // --var name=value (raw text)
	VarFiles []string          // --var-file, in order; age-encrypted ones are decrypted
	Env      []string          // environment (PINERY_VAR_name=value, PINERY_AGE_IDENTITY...)
	// AgeIdentities are files of age identities (--age-identity) that
	// decrypt encrypted var files, with those of the environment.
	AgeIdentities []string
}

// Variables returns the object `var` from defaults, var files, environment
// and --var (lowest to highest precedence), checked and validated. A
// variable given a value in an age-encrypted var file is sensitive, even
// when its declaration does not say so (and when a later source overrides
// that value).
func Variables(site *config.Site, in Inputs) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	declared := map[string]*config.Variable{}
	for _, v := range site.Variables {
		declared[v.Name] = v
	}
	given := map[string]cty.Value{}
	secret := map[string]bool{}
	// A var file that could not be read may hold the missing values: then
	// "no value for required variable" would only be noise.
	unread := false

	// Var files are HCL attribute files: name = value.
	p := hclparse.NewParser()
	keys := &keyring{in: in}
	for _, path := range in.VarFiles {
		src, err := os.ReadFile(path)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read variable file",
				Detail:   fmt.Sprintf("%v. Check the --var-file path.", err),
			})
			unread = true
			continue
		}
		var as []assignment
		var d hcl.Diagnostics
		encrypted := IsEncrypted(path, src)
		if encrypted {
			as, d = readEncryptedVarFile(path, src, keys)
		} else {
			f, pd := p.ParseHCL(src, path)
			d = pd
			if f != nil {
				ad, add := assignments(f.Body)
				as, d = ad, append(d, add...)
			}
		}
		diags = append(diags, d...)
		unread = unread || d.HasErrors()
		for _, a := range as {
			if _, ok := declared[a.name]; !ok {
				diags = append(diags, undeclared(a.name, a.rng.Ptr()))
				continue
			}
			given[a.name] = a.val
			if encrypted {
				secret[a.name] = true
			}
		}
	}
	for _, kv := range in.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "PINERY_VAR_") {
			continue
		}
		name := strings.TrimPrefix(k, "PINERY_VAR_")
		if dv, ok := declared[name]; ok {
			val, d := parseRaw(dv, v, "environment variable "+k)
			diags = append(diags, d...)
			given[name] = val
		}
	}
	names := make([]string, 0, len(in.Vars))
	for n := range in.Vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		dv, ok := declared[name]
		if !ok {
			diags = append(diags, undeclared(name, nil))
			continue
		}
		val, d := parseRaw(dv, in.Vars[name], "--var "+name)
		diags = append(diags, d...)
		given[name] = val
	}

	out := map[string]cty.Value{}
	for _, v := range site.Variables {
		val, ok := given[v.Name]
		switch {
		case ok:
			conv, err := v.Convert(val)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid value for variable",
					Detail:   fmt.Sprintf("The value given for %q does not fit its type %s: %v.", v.Name, v.Type.FriendlyName(), err),
					Subject:  v.DeclRange.Ptr(),
				})
				continue
			}
			val = conv
		case v.Default != cty.NilVal:
			val = v.Default
		case unread:
			continue
		default:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail:   fmt.Sprintf("Variable %q has no default. Set it with --var %s=VALUE, a --var-file, or PINERY_VAR_%s.", v.Name, v.Name, v.Name),
				Subject:  v.DeclRange.Ptr(),
			})
			continue
		}
		// Marked before the validation rules run, so that an error message
		// built from the value is not shown.
		if v.Sensitive || secret[v.Name] {
			val = val.Mark(Sensitive)
		}
		if val.IsWhollyKnown() {
			diags = append(diags, validate(v, val, funcs.Table(site.Dir))...)
		}
		out[v.Name] = val
	}
	return cty.ObjectVal(out), diags
}

// assignment is one name = value of a var file.
type assignment struct {
	name string
	val  cty.Value
	rng  hcl.Range // of the name
}

// assignments evaluates the attributes of a var file, in source order.
func assignments(body hcl.Body) ([]assignment, hcl.Diagnostics) {
	attrs, diags := body.JustAttributes()
	out := make([]assignment, 0, len(attrs))
	for name, a := range attrs {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		out = append(out, assignment{name: name, val: val, rng: a.NameRange})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rng.Start.Byte < out[j].rng.Start.Byte })
	return out, diags
}

func undeclared(name string, rng *hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Value for undeclared variable",
		Detail:   fmt.Sprintf("No variable %q is declared in the site. Declare it with a variable block or remove the value.", name),
		Subject:  rng,
	}
}

// parseRaw reads a value given as text: as is for strings, as an HCL
// expression for other types (like Terraform's -var).
func parseRaw(v *config.Variable, raw, from string) (cty.Value, hcl.Diagnostics) {
	if v.Type == cty.String || v.Type == cty.DynamicPseudoType {
		return cty.StringVal(raw), nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), from, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return expr.Value(nil)
}

// validate runs a variable's validation rules; they may call functions
// (can, regex, contains), as in Terraform.
func validate(v *config.Variable, val cty.Value, fns map[string]function.Function) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: val})}, Functions: fns}
	for _, rule := range v.Validations {
		ok, d := rule.Condition.Value(ctx)
		diags = append(diags, d...)
		ok, _ = ok.Unmark() // whether a sensitive value is valid is not a secret
		if d.HasErrors() || ok.IsNull() || !ok.IsKnown() {
			continue
		}
		ok, err := convert.Convert(ok, cty.Bool)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition", Detail: "The condition must be true or false.", Subject: rule.Condition.Range().Ptr()})
			continue
		}
		if ok.True() {
			continue
		}
		msg := "The value is not valid."
		if m, d := rule.ErrorMessage.Value(ctx); !d.HasErrors() && m.Type() == cty.String && !m.IsMarked() {
			msg = m.AsString()
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid value for variable %q", v.Name),
			Detail:   msg,
			Subject:  rule.Condition.Range().Ptr(),
		})
	}
	return diags
}

// EnvInputs is a convenience for the CLI: the process environment.
func EnvInputs() []string { return os.Environ() }
