package config

import (
	"github.com/hashicorp/hcl/v2"
)

// Check is a `check "NAME"` block (Terraform's): assertions about the
// configuration as evaluated for each host, such as a role's memory budget
// against the board's RAM. A failed assertion is a warning, never an error:
// a check tells; it does not stop a run.
type Check struct {
	Name      string
	Role      *Role // the role it belongs to; nil for the site's
	Asserts   []Assert
	DeclRange hcl.Range
}

// Assert is one `assert` block of a check.
type Assert struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
}

// Addr is the check's address: "check.memory", "role.web.check.memory".
func (c *Check) Addr() string {
	if c.Role != nil {
		return c.Role.Prefix() + "check." + c.Name
	}
	return "check." + c.Name
}

var checkSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "assert"}}}

var assertSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "condition", Required: true}, {Name: "error_message", Required: true},
}}

func decodeCheck(b *hcl.Block, role *Role) (*Check, hcl.Diagnostics) {
	c := &Check{Name: b.Labels[0], Role: role, DeclRange: b.DefRange}
	diags := checkName(c.Name, "check", b.LabelRanges[0])
	content, d := b.Body.Content(checkSchema)
	diags = append(diags, d...)
	for _, ab := range content.Blocks {
		ac, d := ab.Body.Content(assertSchema)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		c.Asserts = append(c.Asserts, Assert{Condition: ac.Attributes["condition"].Expr, ErrorMessage: ac.Attributes["error_message"].Expr})
	}
	if len(content.Blocks) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Check without assertions",
			Detail:   "A check holds one or more assert blocks: assert { condition = ..., error_message = \"...\" }.",
			Subject:  b.DefRange.Ptr(),
		})
	}
	return c, diags
}
