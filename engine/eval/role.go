package eval

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/pinery/pinery/engine/config"
)

// roleScope decides whether a role applies to the host (its targets and
// its when) and, if so, evaluates its inputs (in the site's scope) and its
// locals: the var, local, host and fact its expressions see.
func (p *Program) roleScope(role *config.Role, scope Scope, site map[string]cty.Value, fns func(string) map[string]function.Function) (map[string]cty.Value, bool, hcl.Diagnostics) {
	if len(role.Targets) > 0 && !slices.ContainsFunc(role.Targets, func(sel string) bool { return selects(scope, sel) }) {
		return nil, false, nil
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: fns(p.Site.Dir)}
	for k, v := range site {
		ctx.Variables[k] = v
	}
	var diags hcl.Diagnostics
	if role.When != nil {
		v, d := role.When.Value(ctx)
		if d.HasErrors() {
			return nil, false, d
		}
		v, _ = v.Unmark()
		b, err := convert.Convert(v, cty.Bool)
		if err != nil || b.IsNull() || !b.IsKnown() {
			return nil, false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid when condition", Detail: "when must be true or false.", Subject: role.When.Range().Ptr()}}
		}
		if b.False() {
			return nil, false, nil
		}
	}
	given := map[string]cty.Value{}
	rng := role.DeclRange
	if role.Inputs != nil {
		rng = role.Inputs.Range()
		v, d := role.Inputs.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil, false, diags
		}
		if v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
			return nil, false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid role inputs", Detail: "inputs must be an object: inputs = { name = value }.", Subject: rng.Ptr()})
		}
		v, marks := v.Unmark()
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if len(marks) > 0 {
				e = e.WithMarks(marks)
			}
			given[k.AsString()] = e
		}
	}
	vars, d := bindInputs(role, given, rng, fns(role.Dir))
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, false, diags
	}
	base := map[string]cty.Value{"var": vars, "host": site["host"], "path": pathObject(role.Dir, p.Site.Dir)}
	for _, k := range []string{"fact", "inventory", "outputs"} {
		if v, ok := site[k]; ok {
			base[k] = v
		}
	}
	locals, d := evalLocals(role.Locals, base, fns(role.Dir))
	diags = append(diags, d...)
	base["local"] = cty.ObjectVal(locals)
	return base, true, diags
}

// bindInputs checks a role's input values against its variable blocks:
// every input declared, every required one given, types, validations.
func bindInputs(role *config.Role, given map[string]cty.Value, rng hcl.Range, fns map[string]function.Function) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	declared := map[string]bool{}
	var names []string
	for _, v := range role.Variables {
		declared[v.Name] = true
		names = append(names, v.Name)
	}
	var extra []string
	for k := range given {
		if !declared[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown role input",
			Detail:   fmt.Sprintf("Role %s (%s) has no input %q. Its inputs are: %v.", role.Name, role.Source, k, names),
			Subject:  rng.Ptr(),
		})
	}
	out := map[string]cty.Value{}
	for _, v := range role.Variables {
		val, ok := given[v.Name]
		switch {
		case ok:
			raw, marks := val.UnmarkDeep()
			conv, err := v.Convert(raw)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid role input",
					Detail:   fmt.Sprintf("Input %q of role %s must be %s: %v.", v.Name, role.Name, v.Type.FriendlyName(), err),
					Subject:  rng.Ptr(),
				})
				continue
			}
			val = conv.WithMarks(marks) // sensitive, known after apply
		case v.Default != cty.NilVal:
			val = v.Default
		default:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing role input",
				Detail:   fmt.Sprintf("Role %s (%s) needs the input %q: add it to inputs = { ... }.", role.Name, role.Source, v.Name),
				Subject:  rng.Ptr(),
			})
			continue
		}
		if raw, _ := val.UnmarkDeep(); raw.IsWhollyKnown() {
			for _, d := range validate(v, raw, fns) {
				d.Detail += fmt.Sprintf(" (input of role %s)", role.Name)
				diags = append(diags, d)
			}
		}
		if v.Sensitive {
			val = val.Mark(Sensitive)
		}
		out[v.Name] = val
	}
	return cty.ObjectVal(out), diags
}

// selects matches a role's target selector against the host.
func selects(scope Scope, sel string) bool {
	if scope.Selects != nil {
		return scope.Selects(sel)
	}
	if scope.Host == cty.NilVal {
		return false
	}
	if n := scope.Host.GetAttr("name"); n.AsString() == sel {
		return true
	}
	for it := scope.Host.GetAttr("groups").ElementIterator(); it.Next(); {
		if _, g := it.Element(); g.AsString() == sel {
			return true
		}
	}
	return false
}

// pathObject is Terraform's path object: path.module is the directory of
// the file being read (a role's own directory inside a role), path.root the
// site's, path.cwd pinery's working directory. Relative paths in a role's
// inputs are relative to the role, so a site hands files to a role as
// "${path.module}/out/app.deb".
func pathObject(module, root string) cty.Value {
	cwd, _ := os.Getwd()
	abs := func(d string) string {
		if a, err := filepath.Abs(d); err == nil {
			return a
		}
		return d
	}
	return cty.ObjectVal(map[string]cty.Value{
		"module": cty.StringVal(abs(module)), "root": cty.StringVal(abs(root)), "cwd": cty.StringVal(cwd),
	})
}
