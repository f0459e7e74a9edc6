package eval

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
)

// OutputRead is one expression reading other hosts' role outputs through
// `outputs.ROLE`: which hosts read (those carrying Reader, every host for a
// site-level expression) and which role's outputs.
type OutputRead struct {
	Reader *config.Role // top-level role whose expression reads; nil: the site's own
	Role   *config.Role // the top-level role read; nil: every role (outputs[expr])
	Range  hcl.Range
}

// outputReads finds the expressions that read `outputs`, each with the
// top-level role it belongs to, so that the engine can order hosts before
// evaluating any. A name that is no top-level role of the site is an error
// here, before anything is contacted.
func outputReads(site *config.Site) ([]OutputRead, hcl.Diagnostics) {
	var out []OutputRead
	var diags hcl.Diagnostics
	add := func(reader *config.Role, trs []hcl.Traversal) {
		for reader != nil && reader.Parent != nil {
			reader = reader.Parent
		}
		for _, tr := range trs {
			if tr.RootName() != "outputs" {
				continue
			}
			read := OutputRead{Reader: reader, Range: tr.SourceRange()}
			if len(tr) > 1 {
				var name string
				switch a := tr[1].(type) {
				case hcl.TraverseAttr:
					name = a.Name
				case hcl.TraverseIndex:
					if a.Key.Type() == cty.String {
						name = a.Key.AsString()
					}
				}
				if name != "" {
					read.Role = topRole(site, name)
					if read.Role == nil {
						diags = append(diags, &hcl.Diagnostic{
							Severity: hcl.DiagError,
							Summary:  "Outputs of an undeclared role",
							Detail:   fmt.Sprintf("outputs.%s: the site declares no role %q. outputs.NAME reads the outputs of the site's role NAME on the other hosts it applies to; the site's roles are: %v.", name, name, topRoleNames(site)),
							Subject:  tr.SourceRange().Ptr(),
						})
						continue
					}
				}
			}
			out = append(out, read)
		}
	}
	for _, l := range site.Locals {
		add(nil, l.Expr.Variables())
	}
	for _, r := range site.Resources {
		trs := hcldec.Variables(r.Body, r.Spec)
		for _, e := range r.MetaExprs() {
			trs = append(trs, e.Variables()...)
		}
		add(r.Role, trs)
	}
	for _, role := range site.Roles {
		// A role's inputs and when are evaluated for the hosts it targets.
		for _, e := range []hcl.Expression{role.Inputs, role.When} {
			if e != nil {
				add(role, e.Variables())
			}
		}
		for _, l := range role.Locals {
			add(role, l.Expr.Variables())
		}
		for _, o := range role.Outputs {
			add(role, o.Expr.Variables())
		}
	}
	for _, c := range site.Checks {
		for _, a := range c.Asserts {
			add(c.Role, a.Condition.Variables())
			add(c.Role, a.ErrorMessage.Variables())
		}
	}
	return out, diags
}

func topRole(site *config.Site, name string) *config.Role {
	for _, role := range site.Roles {
		if role.Parent == nil && role.Name == name {
			return role
		}
	}
	return nil
}

func topRoleNames(site *config.Site) []string {
	var names []string
	for _, role := range site.Roles {
		if role.Parent == nil {
			names = append(names, role.Name)
		}
	}
	sort.Strings(names)
	return names
}
