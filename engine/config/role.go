package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Role is a `role "NAME"` block of a site: a directory of .hcl files (its
// variables are the role's inputs, its `output` blocks its outputs)
// applied to the hosts its targets select. Its resources join the site's
// with addresses under role.NAME.
type Role struct {
	Name        string
	Parent      *Role          // the role that includes this one; nil for the site's
	Source      string         // as written: "./roles/web" or a library role's name
	Dir         string         // where its files are
	Targets     []string       // inventory selectors; none: every host
	Inputs      hcl.Expression // an object of input values; nil when absent
	When        hcl.Expression // nil when absent
	Variables   []*Variable
	Locals      []*Local
	Outputs     []*Output
	DeclRange   hcl.Range
	SourceRange hcl.Range
}

// Prefix is what the role's resource addresses start with.
func (r *Role) Prefix() string { return r.Addr() + "." }

// Addr is the role's own address, which stands for all its resources (and
// those of the roles it includes) in depends_on and similar lists:
// "role.web", or "role.render.role.broker" for a role a role includes.
func (r *Role) Addr() string {
	if r.Parent != nil {
		return r.Parent.Prefix() + "role." + r.Name
	}
	return "role." + r.Name
}

// Output is an `output "NAME"` block of a role.
type Output struct {
	Name      string
	Expr      hcl.Expression
	Sensitive bool
	DeclRange hcl.Range
}

var roleSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "source", Required: true}, {Name: "targets"}, {Name: "inputs"}, {Name: "when"},
}}

var outputSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "value", Required: true}, {Name: "sensitive"}, {Name: "description"},
}}

// decodeRole reads a role block (of the site, or of parent's files) and
// loads the role's files into s.
func (s *Site) decodeRole(b *hcl.Block, opts Options, parent *Role) hcl.Diagnostics {
	role := &Role{Name: b.Labels[0], DeclRange: b.DefRange, Parent: parent}
	diags := checkName(role.Name, "role", b.LabelRanges[0])
	content, d := b.Body.Content(roleSchema)
	diags = append(diags, d...)
	if d.HasErrors() {
		return diags
	}
	src := content.Attributes["source"]
	role.SourceRange = src.Expr.Range()
	diags = append(diags, decodeLiteral(src, cty.String, func(v cty.Value) { role.Source = v.AsString() })...)
	if a, ok := content.Attributes["targets"]; ok {
		diags = append(diags, decodeLiteral(a, cty.List(cty.String), func(v cty.Value) {
			for _, e := range v.AsValueSlice() {
				role.Targets = append(role.Targets, e.AsString())
			}
		})...)
	}
	if a, ok := content.Attributes["inputs"]; ok {
		role.Inputs = a.Expr
	}
	if a, ok := content.Attributes["when"]; ok {
		role.When = a.Expr
	}
	if role.Source == "" {
		return diags
	}
	if prev := s.Role(role.Addr()); prev != nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate role",
			Detail:   fmt.Sprintf("role %q was already declared at %s. Rename or remove one of them.", role.Name, prev.DeclRange),
			Subject:  role.DeclRange.Ptr(),
		})
	}
	base := s.Dir
	if parent != nil {
		base = parent.Dir
	}
	dir, d := resolveRole(role, base, opts.Library)
	diags = append(diags, d...)
	if d.HasErrors() {
		return diags
	}
	for p := parent; p != nil; p = p.Parent {
		if p.Dir == dir {
			return append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Role includes itself",
				Detail:   fmt.Sprintf("%s is %s, which includes it (through %s): the roles would include each other forever. Remove this role block.", role.Addr(), dir, p.Addr()),
				Subject:  role.DeclRange.Ptr(),
			})
		}
	}
	role.Dir = dir
	s.Roles = append(s.Roles, role)
	files, d := hclFiles(dir, "role directory")
	for i := range d {
		d[i].Subject = role.SourceRange.Ptr()
	}
	diags = append(diags, d...)
	for _, name := range files {
		f, d := s.Parser.ParseHCLFile(filepath.Join(dir, name))
		diags = append(diags, d...)
		if f != nil {
			diags = append(diags, s.addFile(f, dir, role, opts)...)
		}
	}
	return diags
}

// resolveRole finds a role's directory: a path (starting with ./, ../ or
// /) is relative to the site (to the including role's directory for a role
// a role includes); a plain name is a role of the state library.
func resolveRole(role *Role, siteDir string, library []string) (string, hcl.Diagnostics) {
	fail := func(detail string) (string, hcl.Diagnostics) {
		return "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Role not found",
			Detail:   detail,
			Subject:  role.SourceRange.Ptr(),
		}}
	}
	src := role.Source
	if strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") || filepath.IsAbs(src) {
		dir := src
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(siteDir, src)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fail(fmt.Sprintf("There is no directory %s. Give the role's directory relative to the site (./roles/NAME), or the name of a role of the state library.", dir))
		}
		return dir, nil
	}
	if !hclsyntax.ValidIdentifier(src) {
		return fail(fmt.Sprintf("%q is neither a path (./roles/NAME) nor the name of a role of the state library.", src))
	}
	for _, lib := range library {
		dir := filepath.Join(lib, src)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir, nil
		}
	}
	var known []string
	for _, lib := range library {
		entries, _ := os.ReadDir(lib)
		for _, e := range entries {
			if e.IsDir() {
				known = append(known, e.Name())
			}
		}
	}
	hint := "The state library has no roles."
	if len(known) > 0 {
		hint = "The state library has: " + strings.Join(known, ", ") + "."
	}
	return fail(fmt.Sprintf("No role %q in the state library. %s For a role of your own, give its path: source = \"./roles/%s\".", src, hint, src))
}

func decodeOutput(b *hcl.Block) (*Output, hcl.Diagnostics) {
	o := &Output{Name: b.Labels[0], DeclRange: b.DefRange}
	diags := checkName(o.Name, "output", b.LabelRanges[0])
	content, d := b.Body.Content(outputSchema)
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, diags
	}
	o.Expr = content.Attributes["value"].Expr
	if a, ok := content.Attributes["sensitive"]; ok {
		diags = append(diags, decodeLiteral(a, cty.Bool, func(v cty.Value) { o.Sensitive = v.True() })...)
	}
	return o, diags
}

// Role returns the role with the given address ("role.web"), or nil.
func (s *Site) Role(addr string) *Role {
	for _, r := range s.Roles {
		if r.Addr() == addr {
			return r
		}
	}
	return nil
}
