// Package config loads a site: a directory of .hcl files with variables,
// locals and resource blocks. It checks structure only; values are
// evaluated per host by package eval.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/pinery/pinery/engine/resource"
)

// Site is a loaded configuration.
type Site struct {
	Dir       string
	Parser    *hclparse.Parser // holds the sources, for rendering diagnostics
	Variables []*Variable
	Locals    []*Local
	Resources []*Resource // the site's own and every role's
	Roles     []*Role
	Stages    []*Stage // in declaration order; none: every host at once
	Checks    []*Check // the site's own and every role's

	stageRefs [][]hcl.Traversal // each stage's roles as written, until resolved
}

// Options are what loading needs besides the site's directory.
type Options struct {
	// Library lists the directories of the state library, searched in
	// order for roles named without a path.
	Library []string
}

// Variable is a `variable "NAME"` block.
type Variable struct {
	Name string
	Type cty.Type
	// TypeDefaults fills the optional(TYPE, DEFAULT) attributes of the
	// type that a given value leaves out; nil when there are none.
	TypeDefaults *typeexpr.Defaults
	Default      cty.Value // cty.NilVal: required
	Description  string
	Sensitive    bool
	Validations  []Validation
	DeclRange    hcl.Range
}

// Validation is a `validation` block inside a variable.
type Validation struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	DeclRange    hcl.Range
}

// Local is one attribute of a `locals` block.
type Local struct {
	Name      string
	Expr      hcl.Expression
	DeclRange hcl.Range
}

// Reference is a resource named in depends_on, watch or another requisite.
type Reference struct {
	Addr  string // "file.motd"
	Range hcl.Range
}

// Resource is a `TYPE "NAME"` block, split into meta-arguments (owned by
// the engine) and the body (decoded against the module's schema).
type Resource struct {
	Type      *resource.Type
	Name      string
	DependsOn []Reference
	Watch     []Reference    // refresh this one when any of these changes
	Notify    []Reference    // refresh those when this one changes (watch, declared the other way)
	OnChanges []Reference    // apply this one only if any of these changes
	OnFail    []Reference    // apply this one only if any of these fails
	Prereq    []Reference    // apply this one before those, and only if one of them is about to change
	When      hcl.Expression // nil when absent
	ForEach   hcl.Expression // nil when absent
	Count     hcl.Expression // nil when absent
	Body      hcl.Body
	Spec      hcldec.ObjectSpec
	BaseDir   string
	DeclRange hcl.Range
	Role      *Role // the role it belongs to; nil for the site's own

	attrs hcl.Attributes // Body's fields, checked against Spec at load (DecodeFields)
}

// Addr is the resource's address: "file.motd", "role.web.file.index".
func (r *Resource) Addr() string { return r.Prefix() + r.LocalAddr() }

// LocalAddr is the address inside its role (or site): "file.index".
func (r *Resource) LocalAddr() string { return r.Type.Name + "." + r.Name }

// Prefix is "role.NAME." for a role's resource, "" for the site's own.
func (r *Resource) Prefix() string {
	if r.Role == nil {
		return ""
	}
	return r.Role.Prefix()
}

// MetaArguments are the attribute names the engine owns in every resource.
var MetaArguments = []string{"depends_on", "watch", "notify", "onchanges", "onfail", "prereq", "when", "for_each", "count"}

var metaSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range MetaArguments {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}()

// Requisites lists every resource reference of r by meta-argument name.
func (r *Resource) Requisites() map[string][]Reference {
	return map[string][]Reference{
		"depends_on": r.DependsOn, "watch": r.Watch, "notify": r.Notify,
		"onchanges": r.OnChanges, "onfail": r.OnFail, "prereq": r.Prereq,
	}
}

// MetaExprs are the meta-argument expressions that are evaluated (their
// references count as dependencies).
func (r *Resource) MetaExprs() []hcl.Expression {
	var out []hcl.Expression
	for _, e := range []hcl.Expression{r.When, r.ForEach, r.Count} {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// Load parses every .hcl file of dir (not recursing) in name order, and
// the roles they include.
func Load(dir string, opts Options) (*Site, hcl.Diagnostics) {
	site := &Site{Dir: dir, Parser: hclparse.NewParser()}
	names, diags := hclFiles(dir, "site directory")
	for _, n := range names {
		f, d := site.Parser.ParseHCLFile(filepath.Join(dir, n))
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		diags = append(diags, site.addFile(f, dir, nil, opts)...)
	}
	diags = append(diags, site.checkUnique()...)
	diags = append(diags, site.resolveStages(site.stageRefs)...)
	site.stageRefs = nil
	return site, diags
}

// hclFiles lists the .hcl files of a directory in name order.
func hclFiles(dir, what string) ([]string, hcl.Diagnostics) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read " + what,
			Detail:   fmt.Sprintf("%v. Give the directory that holds the .hcl files.", err),
		}}
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && filepath.Ext(e.Name()) == ".hcl" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   fmt.Sprintf("The %s %s has no .hcl files.", what, dir),
		}}
	}
	return names, nil
}

func topSchema() *hcl.BodySchema {
	s := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "role", LabelNames: []string{"name"}},
		{Type: "output", LabelNames: []string{"name"}},
		{Type: "stage", LabelNames: []string{"name"}},
		{Type: "check", LabelNames: []string{"name"}},
	}}
	for _, t := range resource.Types() {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: t.Name, LabelNames: []string{"name"}})
	}
	return s
}

// addFile adds a file's blocks to the site, or to role when it is one of
// the role's files.
func (s *Site) addFile(f *hcl.File, baseDir string, role *Role, opts Options) hcl.Diagnostics {
	content, diags := f.Body.Content(topSchema())
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			v, d := decodeVariable(b)
			diags = append(diags, d...)
			switch {
			case v == nil:
			case role != nil:
				role.Variables = append(role.Variables, v)
			default:
				s.Variables = append(s.Variables, v)
			}
		case "locals":
			attrs, d := b.Body.JustAttributes()
			diags = append(diags, d...)
			for _, a := range sortedAttrs(attrs) {
				l := &Local{Name: a.Name, Expr: a.Expr, DeclRange: a.Range}
				if role != nil {
					role.Locals = append(role.Locals, l)
				} else {
					s.Locals = append(s.Locals, l)
				}
			}
		case "role":
			diags = append(diags, s.decodeRole(b, opts, role)...)
		case "check":
			c, d := decodeCheck(b, role)
			diags = append(diags, d...)
			if c != nil && !d.HasErrors() {
				s.Checks = append(s.Checks, c)
			}
		case "stage":
			if role != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Stage inside a role",
					Detail:   "stage blocks order the site's roles across hosts; declare them in the site, not in a role.",
					Subject:  b.DefRange.Ptr(),
				})
				continue
			}
			st, refs, d := decodeStage(b)
			diags = append(diags, d...)
			if st != nil {
				s.Stages = append(s.Stages, st)
				s.stageRefs = append(s.stageRefs, refs)
			}
		case "output":
			if role == nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Output outside a role",
					Detail:   "output blocks declare what a role gives to the site that includes it; a site has no outputs. Use a locals block.",
					Subject:  b.DefRange.Ptr(),
				})
				continue
			}
			o, d := decodeOutput(b)
			diags = append(diags, d...)
			if o != nil {
				role.Outputs = append(role.Outputs, o)
			}
		default:
			t, _ := resource.Lookup(b.Type)
			r, d := decodeResource(t, b, baseDir, role)
			diags = append(diags, d...)
			if r != nil {
				s.Resources = append(s.Resources, r)
			}
		}
	}
	return diags
}

func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Range.Start.Byte < out[j].Range.Start.Byte })
	return out
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "condition", Required: true}, {Name: "error_message", Required: true},
}}

func decodeVariable(b *hcl.Block) (*Variable, hcl.Diagnostics) {
	v := &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
	diags := checkName(b.Labels[0], "variable", b.LabelRanges[0])
	content, d := b.Body.Content(variableSchema)
	diags = append(diags, d...)
	if a, ok := content.Attributes["type"]; ok {
		t, defs, d := typeexpr.TypeConstraintWithDefaults(a.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.Type, v.TypeDefaults = t, defs
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		diags = append(diags, decodeLiteral(a, cty.String, func(x cty.Value) { v.Description = x.AsString() })...)
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		diags = append(diags, decodeLiteral(a, cty.Bool, func(x cty.Value) { v.Sensitive = x.True() })...)
	}
	if a, ok := content.Attributes["default"]; ok {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			conv, err := v.Convert(val)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("The default of %q does not fit its type: %v.", v.Name, err),
					Subject:  a.Expr.Range().Ptr(),
				})
				v.Default = cty.DynamicVal // reported; not "missing" too
			} else {
				v.Default = conv
			}
		}
	}
	for _, vb := range content.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		v.Validations = append(v.Validations, Validation{
			Condition:    vc.Attributes["condition"].Expr,
			ErrorMessage: vc.Attributes["error_message"].Expr,
			DeclRange:    vb.DefRange,
		})
	}
	return v, diags
}

func decodeLiteral(a *hcl.Attribute, t cty.Type, set func(cty.Value)) hcl.Diagnostics {
	val, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	conv, err := convert.Convert(val, t)
	if err != nil || conv.IsNull() {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value",
			Detail:   fmt.Sprintf("%s must be a %s.", a.Name, t.FriendlyName()),
			Subject:  a.Expr.Range().Ptr(),
		}}
	}
	set(conv)
	return nil
}

func checkName(name, what string, rng hcl.Range) hcl.Diagnostics {
	if hclsyntax.ValidIdentifier(name) {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + what + " name",
		Detail:   fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter or underscore.", name),
		Subject:  rng.Ptr(),
	}}
}

// FieldSpec is the hcldec spec of a resource type's schema.
func FieldSpec(t *resource.Type) hcldec.ObjectSpec {
	spec := hcldec.ObjectSpec{}
	for _, f := range t.Fields {
		spec[f.Name] = &hcldec.AttrSpec{Name: f.Name, Type: f.Type, Required: f.Required && f.Default == cty.NilVal}
	}
	return spec
}

func decodeResource(t *resource.Type, b *hcl.Block, baseDir string, role *Role) (*Resource, hcl.Diagnostics) {
	r := &Resource{Type: t, Name: b.Labels[0], BaseDir: baseDir, DeclRange: b.DefRange, Spec: FieldSpec(t), Role: role}
	diags := checkName(r.Name, "resource", b.LabelRanges[0])
	meta, remain, d := b.Body.PartialContent(metaSchema)
	diags = append(diags, d...)
	r.Body = remain
	// Structure is checked once here (unknown or missing fields); values
	// are decoded per host, where the variables are known.
	content, d := remain.Content(hcldec.ImpliedSchema(r.Spec))
	diags = append(diags, d...)
	if content != nil {
		r.attrs = content.Attributes // for DecodeFields
	}
	dsts := map[string]*[]Reference{
		"depends_on": &r.DependsOn, "watch": &r.Watch, "notify": &r.Notify,
		"onchanges": &r.OnChanges, "onfail": &r.OnFail, "prereq": &r.Prereq,
	}
	for _, name := range MetaArguments {
		dst := dsts[name]
		if a, ok := meta.Attributes[name]; ok && dst != nil {
			refs, d := decodeRefs(a)
			// Inside a role, names are the role's own (role.X is a role it
			// includes).
			for i := range refs {
				refs[i].Addr = r.Prefix() + refs[i].Addr
			}
			*dst, diags = refs, append(diags, d...)
		}
	}
	if a, ok := meta.Attributes["when"]; ok {
		r.When = a.Expr
	}
	if a, ok := meta.Attributes["for_each"]; ok {
		r.ForEach = a.Expr
	}
	if a, ok := meta.Attributes["count"]; ok {
		r.Count = a.Expr
		if r.ForEach != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Both for_each and count",
				Detail:   "A resource repeats by for_each or by count, not both. Keep one of them.",
				Subject:  a.NameRange.Ptr(),
			})
		}
	}
	return r, diags
}

// decodeRefs reads a list of bare resource references: [file.a, service.b].
func decodeRefs(a *hcl.Attribute) ([]Reference, hcl.Diagnostics) {
	exprs, diags := hcl.ExprList(a.Expr)
	var refs []Reference
	for _, e := range exprs {
		tr, d := hcl.AbsTraversalForExpr(e)
		if d.HasErrors() || len(tr) < 2 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference in " + a.Name,
				Detail:   "Name a resource as TYPE.NAME, without quotes, e.g. file.motd.",
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		attr, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference in " + a.Name,
				Detail:   "Name a resource as TYPE.NAME, e.g. file.motd.",
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		refs = append(refs, Reference{Addr: tr.RootName() + "." + attr.Name, Range: e.Range()})
	}
	return refs, diags
}

func (s *Site) checkUnique() hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	dup := func(kind, name string, rng hcl.Range) {
		if prev, ok := seen[kind+" "+name]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate " + kind,
				Detail:   fmt.Sprintf("%s %q was already declared at %s. Rename or remove one of them.", kind, name, prev),
				Subject:  rng.Ptr(),
			})
			return
		}
		seen[kind+" "+name] = rng
	}
	for _, v := range s.Variables {
		dup("variable", v.Name, v.DeclRange)
	}
	for _, l := range s.Locals {
		dup("local value", l.Name, l.DeclRange)
	}
	for _, r := range s.Resources {
		dup("resource", r.Addr(), r.DeclRange)
	}
	for _, c := range s.Checks {
		dup("check", c.Addr(), c.DeclRange)
	}
	for _, st := range s.Stages {
		dup("stage", st.Name, st.DeclRange)
	}
	byAddr := map[string]bool{}
	for _, r := range s.Resources {
		byAddr[r.Addr()] = true
	}
	for _, role := range s.Roles {
		byAddr[role.Addr()] = true
		for _, v := range role.Variables {
			dup("variable in "+role.Addr(), v.Name, v.DeclRange)
		}
		for _, l := range role.Locals {
			dup("local value in "+role.Addr(), l.Name, l.DeclRange)
		}
		for _, o := range role.Outputs {
			dup("output of "+role.Addr(), o.Name, o.DeclRange)
		}
	}
	for _, r := range s.Resources {
		for _, name := range MetaArguments {
			for _, ref := range r.Requisites()[name] {
				if byAddr[ref.Addr] && ref.Addr != r.Addr() {
					continue
				}
				if ref.Addr == r.Addr() {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Resource names itself in " + name,
						Detail:   fmt.Sprintf("%s cannot be its own requisite. Remove it from %s.", r.Addr(), name),
						Subject:  ref.Range.Ptr(),
					})
					continue
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared resource",
					Detail:   fmt.Sprintf("%s refers to %s, which is not declared in this site.", r.Addr(), ref.Addr),
					Subject:  ref.Range.Ptr(),
				})
			}
		}
	}
	return diags
}

// Resource returns the resource with the given address.
func (s *Site) Resource(addr string) *Resource {
	for _, r := range s.Resources {
		if r.Addr() == addr {
			return r
		}
	}
	return nil
}

// Convert converts a value given for the variable to its type, filling
// optional attributes the value leaves out with their defaults first.
func (v *Variable) Convert(val cty.Value) (cty.Value, error) {
	if v.TypeDefaults != nil {
		val = v.TypeDefaults.Apply(val)
	}
	return convert.Convert(val, v.Type)
}
