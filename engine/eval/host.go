package eval

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/funcs"
	"github.com/pinery/pinery/engine/resource"
)

// Scope is what expressions of one host can see besides locals and
// resources.
type Scope struct {
	Var  cty.Value // object of input variables
	Host cty.Value // object: name, address, groups, vars
	Fact cty.Value // object of facts; cty.NilVal when not gathered
}

// Node is one resource instance of one host.
type Node struct {
	Res    *config.Resource
	Config resource.Config
	Impl   resource.Resource
	Value  cty.Value // decoded fields, for references from other resources
	Deps   []*Node   // must be applied before this one (depends_on, references, watch)
	Watch  []*Node   // a change in any of these refreshes this one
}

// Addr is the node's resource address.
func (n *Node) Addr() string { return n.Res.Addr() }

// HostGraph is a host's resources in an order that respects dependencies.
type HostGraph struct {
	Nodes []*Node
}

// Program is a site prepared for per-host evaluation: the host-independent
// work (ordering, reference analysis) is done once per run.
type Program struct {
	Site      *config.Site
	order     []*config.Resource
	refs      map[*config.Resource][]ref
	UsesFacts bool // some expression refers to `fact`: gather facts first
}

// Compile orders the site's resources and finds their references.
func Compile(site *config.Site) (*Program, hcl.Diagnostics) {
	p := &Program{Site: site, refs: map[*config.Resource][]ref{}}
	for _, r := range site.Resources {
		p.refs[r] = resourceRefs(r)
	}
	for _, tr := range siteTraversals(site) {
		if tr.RootName() == "fact" {
			p.UsesFacts = true
		}
	}
	var diags hcl.Diagnostics
	p.order, diags = p.resourceOrder()
	return p, diags
}

func siteTraversals(site *config.Site) []hcl.Traversal {
	var out []hcl.Traversal
	for _, l := range site.Locals {
		out = append(out, l.Expr.Variables()...)
	}
	for _, r := range site.Resources {
		out = append(out, hcldec.Variables(r.Body, r.Spec)...)
		if r.When != nil {
			out = append(out, r.When.Variables()...)
		}
	}
	return out
}

// Host evaluates locals and resources for one host and orders them.
func (p *Program) Host(scope Scope) (*HostGraph, hcl.Diagnostics) {
	site := p.Site
	base := map[string]cty.Value{"var": scope.Var, "host": scope.Host}
	if scope.Fact != cty.NilVal {
		base["fact"] = scope.Fact
	}
	fnCache := map[string]map[string]function.Function{}
	fns := func(dir string) map[string]function.Function {
		if t, ok := fnCache[dir]; ok {
			return t
		}
		fnCache[dir] = funcs.Table(dir)
		return fnCache[dir]
	}

	locals, diags := evalLocals(site, base, fns(site.Dir))
	base["local"] = cty.ObjectVal(locals)

	if diags.HasErrors() {
		return nil, diags
	}

	byAddr := map[string]*Node{}
	excluded := map[string]bool{}
	g := &HostGraph{}
	for _, r := range p.order {
		refs := p.refs[r]
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: fns(r.BaseDir)}
		for k, v := range base {
			ctx.Variables[k] = v
		}
		missing := false
		objs := map[string]map[string]cty.Value{}
		for _, ref := range refs {
			n, ok := byAddr[ref.addr]
			if !ok {
				if excluded[ref.addr] {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Reference to a resource excluded on this host",
						Detail:   fmt.Sprintf("%s refers to %s, whose when condition is false on host %s. Give both the same condition.", r.Addr(), ref.addr, hostName(scope)),
						Subject:  ref.rng.Ptr(),
					})
				}
				missing = true
				continue
			}
			typ, name, _ := strings.Cut(ref.addr, ".")
			if objs[typ] == nil {
				objs[typ] = map[string]cty.Value{}
			}
			objs[typ][name] = n.Value
		}
		if missing {
			continue
		}
		for typ, m := range objs {
			ctx.Variables[typ] = cty.ObjectVal(m)
		}

		if r.When != nil {
			ok, d := r.When.Value(ctx)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			ok, _ = ok.Unmark()
			if b, err := convert.Convert(ok, cty.Bool); err != nil || b.IsNull() || !b.IsKnown() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid when condition", Detail: "when must be true or false.", Subject: r.When.Range().Ptr()})
				continue
			} else if b.False() {
				excluded[r.Addr()] = true
				continue
			}
		}

		n, d := decodeNode(r, ctx)
		diags = append(diags, d...)
		if n == nil {
			continue
		}
		for _, ref := range refs {
			dep := byAddr[ref.addr]
			n.Deps = appendUnique(n.Deps, dep)
			if ref.watch {
				n.Watch = appendUnique(n.Watch, dep)
			}
		}
		byAddr[r.Addr()] = n
		g.Nodes = append(g.Nodes, n)
	}
	return g, diags
}

func hostName(s Scope) string {
	if s.Host.Type().IsObjectType() && s.Host.Type().HasAttribute("name") {
		return s.Host.GetAttr("name").AsString()
	}
	return "?"
}

func appendUnique(ns []*Node, n *Node) []*Node {
	for _, x := range ns {
		if x == n {
			return ns
		}
	}
	return append(ns, n)
}

func decodeNode(r *config.Resource, ctx *hcl.EvalContext) (*Node, hcl.Diagnostics) {
	obj, diags := hcldec.Decode(r.Body, r.Spec, ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg := resource.Config{Name: r.Name, BaseDir: r.BaseDir, Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
	vals := map[string]cty.Value{}
	for _, f := range r.Type.Fields {
		v := obj.GetAttr(f.Name)
		if v.IsNull() && f.Default != cty.NilVal {
			v = f.Default
		}
		vals[f.Name] = v
		plain, marks := v.UnmarkDeepWithPaths()
		if !plain.IsWhollyKnown() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value not known before apply",
				Detail:   fmt.Sprintf("%s of %s depends on a value that is only known after apply; this is not supported yet.", f.Name, r.Addr()),
				Subject:  attrRange(r, f.Name).Ptr(),
			})
			return nil, diags
		}
		cfg.Values[f.Name] = plain
		if f.Sensitive || len(marks) > 0 {
			cfg.Sensitive[f.Name] = true
		}
	}
	impl, err := r.Type.New(cfg)
	if err != nil {
		var fe *resource.FieldError
		rng := r.DeclRange
		if errors.As(err, &fe) {
			rng = attrRange(r, fe.Field)
		}
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + r.Type.Name + " resource",
			Detail:   fmt.Sprintf("%s: %v", r.Addr(), err),
			Subject:  rng.Ptr(),
		})
	}
	return &Node{Res: r, Config: cfg, Impl: impl, Value: cty.ObjectVal(vals)}, diags
}

// attrRange finds the source range of a field's attribute, falling back to
// the block header.
func attrRange(r *config.Resource, name string) hcl.Range {
	if b, ok := r.Body.(*hclsyntax.Body); ok {
		if a, ok := b.Attributes[name]; ok {
			return a.SrcRange
		}
	}
	return r.DeclRange
}

func evalLocals(site *config.Site, base map[string]cty.Value, fns map[string]function.Function) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	byName := map[string]*config.Local{}
	for _, l := range site.Locals {
		byName[l.Name] = l
	}
	out := map[string]cty.Value{}
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(l *config.Local, path []string)
	visit = func(l *config.Local, path []string) {
		switch state[l.Name] {
		case 2:
			return
		case 1:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle in local values",
				Detail:   "These locals refer to each other: " + strings.Join(append(path, l.Name), " → ") + ". Break the cycle.",
				Subject:  l.DeclRange.Ptr(),
			})
			// Unknown, so that the rest of the cycle reports nothing more.
			out[l.Name] = cty.DynamicVal
			return
		}
		state[l.Name] = 1
		for _, tr := range l.Expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				if dep, ok := byName[a.Name]; ok {
					visit(dep, append(path, l.Name))
				}
			}
		}
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"local": cty.ObjectVal(out)}, Functions: fns}
		for k, v := range base {
			ctx.Variables[k] = v
		}
		v, d := l.Expr.Value(ctx)
		diags = append(diags, d...)
		out[l.Name] = v
		state[l.Name] = 2
	}
	for _, l := range site.Locals {
		visit(l, nil)
	}
	return out, diags
}

type ref struct {
	addr  string
	rng   hcl.Range
	watch bool
	expr  bool // found in an expression, not in depends_on or watch
}

// resourceRefs lists the resources r depends on: depends_on, watch and
// references in its expressions.
func resourceRefs(r *config.Resource) []ref {
	var out []ref
	seen := map[string]int{}
	add := func(x ref) {
		if i, ok := seen[x.addr]; ok {
			out[i].watch = out[i].watch || x.watch
			return
		}
		seen[x.addr] = len(out)
		out = append(out, x)
	}
	for _, d := range r.DependsOn {
		add(ref{addr: d.Addr, rng: d.Range})
	}
	for _, w := range r.Watch {
		add(ref{addr: w.Addr, rng: w.Range, watch: true})
	}
	trs := hcldec.Variables(r.Body, r.Spec)
	if r.When != nil {
		trs = append(trs, r.When.Variables()...)
	}
	for _, tr := range trs {
		if _, ok := resource.Lookup(tr.RootName()); !ok || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok {
			add(ref{addr: tr.RootName() + "." + a.Name, rng: tr.SourceRange(), expr: true})
		}
	}
	return out
}

// resourceOrder sorts the site's resources so that every resource comes
// after those it refers to, keeping declaration order otherwise. A cycle is
// a diagnostic that names every resource in it.
func (p *Program) resourceOrder() ([]*config.Resource, hcl.Diagnostics) {
	site := p.Site
	var diags hcl.Diagnostics
	byAddr := map[string]*config.Resource{}
	for _, r := range site.Resources {
		byAddr[r.Addr()] = r
	}
	var order []*config.Resource
	state := map[string]int{}
	var stack []*config.Resource
	var visit func(r *config.Resource)
	visit = func(r *config.Resource) {
		switch state[r.Addr()] {
		case 2:
			return
		case 1:
			i := len(stack) - 1
			for i > 0 && stack[i] != r {
				i--
			}
			var names []string
			for _, c := range append(stack[i:], r) {
				names = append(names, fmt.Sprintf("%s (%s:%d:%d)", c.Addr(), c.DeclRange.Filename, c.DeclRange.Start.Line, c.DeclRange.Start.Column))
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Dependency cycle",
				Detail:   "These resources depend on each other in a cycle: " + strings.Join(names, " → ") + ". Remove one of the references or depends_on entries.",
				Subject:  r.DeclRange.Ptr(),
			})
			return
		}
		state[r.Addr()] = 1
		stack = append(stack, r)
		for _, x := range p.refs[r] {
			if dep, ok := byAddr[x.addr]; ok {
				visit(dep)
			} else if x.expr {
				// depends_on and watch were checked when loading.
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared resource",
					Detail:   fmt.Sprintf("%s refers to %s, which is not declared in this site.", r.Addr(), x.addr),
					Subject:  x.rng.Ptr(),
				})
			}
		}
		stack = stack[:len(stack)-1]
		state[r.Addr()] = 2
		order = append(order, r)
	}
	for _, r := range site.Resources {
		visit(r)
	}
	return order, diags
}
