package eval

import (
	"errors"
	"fmt"
	"maps"
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
	// Selects reports whether an inventory selector (a role's targets)
	// selects this host; nil selects by host name and group only.
	Selects func(selector string) bool
	// Inventory is what every host may know of the fleet: the inventory's
	// hosts, groups and which hosts the site's roles target (see
	// docs/language.md); cty.NilVal when there is no inventory.
	Inventory cty.Value
	// Captured holds what the host's captures (resources with computed
	// attributes) read, by node address; a node not in it reads as not
	// known until after apply.
	Captured map[string]map[string]cty.Value
	// Outputs is `outputs`: for each role the site reads across hosts, an
	// object of the other hosts' outputs of that role by host name
	// (cty.NilVal: every such role reads as no host's).
	Outputs cty.Value
}

// Node is one resource instance of one host.
type Node struct {
	Res    *config.Resource
	Key    string // instance key for for_each/count: `["a"]`, `[0]`
	Impl   resource.Resource
	Config *resource.Config // its decoded fields, kept only with Program.KeepConfig
	Value  cty.Value        // decoded fields, for references from other resources (while Host evaluates; NilVal after)
	Deps   []*Node          // must be applied before this one (depends_on, references, watch)
	Watch  []*Node          // a change in any of these refreshes this one
	// OnChanges: applied only if one of these changes; OnFail: only if
	// one of these fails; PrereqOf: applied before these (they depend on
	// it), and only if one of them is about to change.
	OnChanges, OnFail, PrereqOf []*Node
}

// Addr is the instance's address: file.motd, file.conf["a"], file.x[0].
func (n *Node) Addr() string { return n.Res.Addr() + n.Key }

// HostGraph is a host's resources in an order that respects dependencies.
type HostGraph struct {
	Nodes []*Node
	// Outputs holds, for each top-level role applied to the host that some
	// host reads through `outputs`, the role's outputs.
	Outputs map[string]cty.Value
}

// Program is a site prepared for per-host evaluation: the host-independent
// work (ordering, reference analysis) is done once per run.
type Program struct {
	Site      *config.Site
	order     []*config.Resource
	refs      map[*config.Resource][]ref
	UsesFacts bool // some expression refers to `fact`: gather facts first
	// UsesInventory: some expression refers to `inventory` (and may read
	// other hosts' facts through it).
	UsesInventory bool
	// Reads lists the expressions that read other hosts' role outputs.
	Reads []OutputRead
	// KeepConfig keeps every node's decoded fields (Node.Config), for
	// what inspects a site's computed values, such as the state library's
	// tests. A run needs only each module's own Impl.
	KeepConfig bool
}

// ReadsRole reports whether some host reads role's outputs across hosts.
func (p *Program) ReadsRole(role *config.Role) bool {
	for _, rd := range p.Reads {
		if rd.Role == nil || rd.Role == role {
			return true
		}
	}
	return false
}

// Compile orders the site's resources and finds their references.
func Compile(site *config.Site) (*Program, hcl.Diagnostics) {
	p := &Program{Site: site, refs: map[*config.Resource][]ref{}}
	for _, r := range site.Resources {
		p.refs[r] = resourceRefs(r)
	}
	// notify and prereq are declared on the other end: T notified by r
	// watches r; T with r as its prereq comes after r.
	for _, r := range site.Resources {
		for _, t := range r.Notify {
			if tr := site.Resource(t.Addr); tr != nil {
				p.refs[tr] = addReverse(p.refs[tr], ref{addr: r.Addr(), rng: t.Range, watch: true, reverse: true})
			}
		}
		for _, t := range r.Prereq {
			if tr := site.Resource(t.Addr); tr != nil {
				p.refs[tr] = addReverse(p.refs[tr], ref{addr: r.Addr(), rng: t.Range, prereq: true, reverse: true})
			}
		}
	}
	for _, tr := range siteTraversals(site) {
		switch tr.RootName() {
		case "fact":
			p.UsesFacts = true
		case "inventory":
			p.UsesInventory = true
		}
	}
	var diags hcl.Diagnostics
	p.Reads, diags = outputReads(site)
	order, d := p.resourceOrder()
	p.order = order
	return p, append(diags, d...)
}

func siteTraversals(site *config.Site) []hcl.Traversal {
	var out []hcl.Traversal
	for _, l := range site.Locals {
		out = append(out, l.Expr.Variables()...)
	}
	for _, r := range site.Resources {
		out = append(out, hcldec.Variables(r.Body, r.Spec)...)
		for _, e := range r.MetaExprs() {
			out = append(out, e.Variables()...)
		}
	}
	for _, role := range site.Roles {
		for _, e := range []hcl.Expression{role.Inputs, role.When} {
			if e != nil {
				out = append(out, e.Variables()...)
			}
		}
		for _, l := range role.Locals {
			out = append(out, l.Expr.Variables()...)
		}
		for _, o := range role.Outputs {
			out = append(out, o.Expr.Variables()...)
		}
	}
	for _, c := range site.Checks {
		for _, a := range c.Asserts {
			out = append(out, a.Condition.Variables()...)
			out = append(out, a.ErrorMessage.Variables()...)
		}
	}
	return out
}

// Host evaluates locals and resources for one host and orders them.
func (p *Program) Host(scope Scope) (*HostGraph, hcl.Diagnostics) {
	site := p.Site
	base := map[string]cty.Value{"var": scope.Var, "host": scope.Host, "path": pathObject(site.Dir, site.Dir)}
	if scope.Fact != cty.NilVal {
		base["fact"] = scope.Fact
	}
	if scope.Inventory != cty.NilVal {
		base["inventory"] = scope.Inventory
	}
	if len(p.Reads) > 0 {
		base["outputs"] = scope.Outputs
		if scope.Outputs == cty.NilVal {
			none := map[string]cty.Value{}
			for _, role := range site.Roles {
				if role.Parent == nil {
					none[role.Name] = cty.EmptyObjectVal
				}
			}
			base["outputs"] = cty.ObjectVal(none)
		}
	}
	fnCache := map[string]map[string]function.Function{}
	fns := func(dir string) map[string]function.Function {
		if t, ok := fnCache[dir]; ok {
			return t
		}
		fnCache[dir] = funcs.Table(dir)
		return fnCache[dir]
	}

	locals, diags := evalLocals(site.Locals, base, fns(site.Dir))
	base["local"] = cty.ObjectVal(locals)

	if diags.HasErrors() {
		return nil, diags
	}

	// Each role on this host gets its own var and local.
	roleBase := map[*config.Role]map[string]cty.Value{}
	excluded := map[string]bool{}
	for _, role := range site.Roles { // a role comes before those it includes
		outer := base
		if role.Parent != nil {
			if excluded[role.Parent.Addr()] {
				excluded[role.Addr()] = true
				continue
			}
			outer = roleBase[role.Parent]
		}
		b, on, d := p.roleScope(role, scope, outer, fns)
		diags = append(diags, d...)
		if !on {
			excluded[role.Addr()] = true
			continue
		}
		roleBase[role] = b
	}
	if diags.HasErrors() {
		return nil, diags
	}

	// done holds each evaluated resource's instances and the value other
	// expressions see: an object, a map of objects (for_each) or a tuple
	// of objects (count); and each role's nodes and outputs, once used.
	type evaluated struct {
		nodes []*Node
		value cty.Value
	}
	done := map[string]*evaluated{}
	// roleDone gathers a role's nodes and evaluates its outputs, the first
	// time the site refers to it (all its resources come before).
	var roleDone func(role *config.Role) (*evaluated, hcl.Diagnostics)
	roleDone = func(role *config.Role) (*evaluated, hcl.Diagnostics) {
		if e, ok := done[role.Addr()]; ok {
			return e, nil
		}
		e := &evaluated{}
		objs := map[string]map[string]cty.Value{}
		var diags hcl.Diagnostics
		// The roles it includes are part of it: their nodes, and their
		// outputs for its own outputs to use.
		for _, inner := range site.Roles {
			if inner.Parent != role || excluded[inner.Addr()] {
				continue
			}
			x, d := roleDone(inner)
			diags = append(diags, d...)
			e.nodes = append(e.nodes, x.nodes...)
			if objs["role"] == nil {
				objs["role"] = map[string]cty.Value{}
			}
			objs["role"][inner.Name] = x.value
		}
		for _, r := range site.Resources {
			if r.Role != role {
				continue
			}
			if x, ok := done[r.Addr()]; ok {
				e.nodes = append(e.nodes, x.nodes...)
				if objs[r.Type.Name] == nil {
					objs[r.Type.Name] = map[string]cty.Value{}
				}
				objs[r.Type.Name][r.Name] = x.value
			}
		}
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: fns(role.Dir)}
		for k, v := range roleBase[role] {
			ctx.Variables[k] = v
		}
		for typ, m := range objs {
			ctx.Variables[typ] = cty.ObjectVal(m)
		}
		outs := map[string]cty.Value{}
		for _, o := range role.Outputs {
			v, d := o.Expr.Value(ctx)
			diags = append(diags, d...)
			if o.Sensitive {
				v = v.Mark(Sensitive)
			}
			outs[o.Name] = v
		}
		e.value = cty.ObjectVal(outs)
		done[role.Addr()] = e
		return e, diags
	}
	g := &HostGraph{}
	for _, r := range p.order {
		if r.Role != nil && excluded[r.Role.Addr()] {
			excluded[r.Addr()] = true
			continue
		}
		refs := p.refs[r]
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: fns(r.BaseDir)}
		rb := base
		if r.Role != nil {
			rb = roleBase[r.Role]
		}
		for k, v := range rb {
			ctx.Variables[k] = v
		}
		missing := false
		var excludedRefs []ref
		objs := map[string]map[string]cty.Value{}
		for _, ref := range refs {
			e, ok := done[ref.addr]
			if !ok && ref.reverse && excluded[ref.addr] {
				continue // a notify or prereq from a resource not on this host
			}
			if !ok && !excluded[ref.addr] {
				if role := site.Role(ref.addr); role != nil {
					var d hcl.Diagnostics
					e, d = roleDone(role)
					diags, ok = append(diags, d...), !d.HasErrors()
				}
			}
			if !ok {
				if excluded[ref.addr] {
					excludedRefs = append(excludedRefs, ref)
				}
				missing = true
				continue
			}
			// Expressions see names local to their role: file.x, role.web.
			typ, name, _ := strings.Cut(strings.TrimPrefix(ref.addr, r.Prefix()), ".")
			if objs[typ] == nil {
				objs[typ] = map[string]cty.Value{}
			}
			objs[typ][name] = e.value
		}
		if missing {
			// Excluded along with what it refers to (the same when): fine.
			if len(excludedRefs) > 0 && !whenFalse(r, ctx) {
				for _, ref := range excludedRefs {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Reference to a resource excluded on this host",
						Detail:   fmt.Sprintf("%s refers to %s, which is not applied to host %s (its when condition is false, or its role does not target the host). Give both the same condition.", r.Addr(), ref.addr, hostName(scope)),
						Subject:  ref.rng.Ptr(),
					})
				}
			}
			excluded[r.Addr()] = len(excludedRefs) > 0
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

		insts, d := expand(r, ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		e := &evaluated{}
		values := map[string]cty.Value{}
		var tuple []cty.Value
		for _, in := range insts {
			ictx := ctx
			if in.key != "" {
				ictx = ctx.NewChild()
				ictx.Variables = in.vars
			}
			n, d := decodeNode(r, ictx, in.key, scope)
			diags = append(diags, d...)
			if n == nil {
				continue
			}
			if !p.KeepConfig {
				n.Config = nil
			}
			for _, ref := range refs {
				for _, dep := range done[ref.addr].nodes {
					n.Deps = appendUnique(n.Deps, dep)
					if ref.watch {
						n.Watch = appendUnique(n.Watch, dep)
					}
					if ref.onchanges {
						n.OnChanges = appendUnique(n.OnChanges, dep)
					}
					if ref.onfail {
						n.OnFail = appendUnique(n.OnFail, dep)
					}
					if ref.prereq {
						dep.PrereqOf = appendUnique(dep.PrereqOf, n)
					}
				}
			}
			e.nodes = append(e.nodes, n)
			g.Nodes = append(g.Nodes, n)
			values[in.name] = n.Value
			tuple = append(tuple, n.Value)
		}
		switch {
		case r.ForEach != nil:
			e.value = cty.ObjectVal(values)
		case r.Count != nil:
			e.value = cty.EmptyTupleVal
			if len(tuple) > 0 {
				e.value = cty.TupleVal(tuple)
			}
		case len(e.nodes) == 1:
			e.value = e.nodes[0].Value
		default:
			continue // its own error was reported
		}
		done[r.Addr()] = e
	}
	// Checks last: a site's check may weigh its roles' outputs.
	for _, c := range site.Checks {
		vars, dir := base, site.Dir
		if c.Role != nil {
			if excluded[c.Role.Addr()] || roleBase[c.Role] == nil {
				continue
			}
			vars, dir = roleBase[c.Role], c.Role.Dir
		} else if roles := map[string]cty.Value{}; len(site.Roles) > 0 {
			for _, role := range site.Roles {
				if role.Parent != nil || excluded[role.Addr()] {
					continue
				}
				if e, d := roleDone(role); !d.HasErrors() {
					roles[role.Name] = e.value
				}
			}
			vars = maps.Clone(base)
			vars["role"] = cty.ObjectVal(roles)
		}
		diags = append(diags, runCheck(c, &hcl.EvalContext{Variables: vars, Functions: fns(dir)})...)
	}
	// The outputs other hosts read.
	for _, role := range site.Roles {
		if role.Parent != nil || excluded[role.Addr()] || roleBase[role] == nil || !p.ReadsRole(role) {
			continue
		}
		e, d := roleDone(role)
		diags = append(diags, d...)
		if g.Outputs == nil {
			g.Outputs = map[string]cty.Value{}
		}
		g.Outputs[role.Name] = e.value
	}
	// Values are for references between this host's resources: kept on
	// every node of every host, they would be a third of what a planned
	// fleet holds.
	for _, n := range g.Nodes {
		n.Value = cty.NilVal
	}
	return g, diags
}

// runCheck evaluates a check's assertions for one host: a false condition
// is a warning carrying its error_message; a condition that cannot be
// decided (unknown until apply) says nothing.
func runCheck(c *config.Check, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, a := range c.Asserts {
		v, d := a.Condition.Value(ctx)
		if d.HasErrors() {
			for _, x := range d {
				w := *x
				w.Severity = hcl.DiagWarning
				w.Summary = "Check " + c.Addr() + " could not be evaluated: " + x.Summary
				diags = append(diags, &w)
			}
			continue
		}
		v, _ = v.Unmark()
		b, err := convert.Convert(v, cty.Bool)
		if err != nil || b.IsNull() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Invalid check condition",
				Detail: fmt.Sprintf("%s: condition must be true or false.", c.Addr()), Subject: a.Condition.Range().Ptr()})
			continue
		}
		if !b.IsKnown() || b.True() {
			continue
		}
		msg := "(the error message could not be evaluated)"
		if m, d := a.ErrorMessage.Value(ctx); !d.HasErrors() {
			if m.ContainsMarked() {
				msg = "(the error message holds a sensitive value)"
			} else if s, err := convert.Convert(m, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				msg = s.AsString()
			}
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Check " + c.Addr() + " failed",
			Detail:   msg,
			Subject:  a.Condition.Range().Ptr(),
		})
	}
	return diags
}

// whenFalse reports whether r's when condition is certainly false with
// what ctx holds (false when it has none, or needs more to be decided).
func whenFalse(r *config.Resource, ctx *hcl.EvalContext) bool {
	if r.When == nil {
		return false
	}
	v, diags := r.When.Value(ctx)
	if diags.HasErrors() {
		return false
	}
	v, _ = v.Unmark()
	b, err := convert.Convert(v, cty.Bool)
	return err == nil && b.IsKnown() && !b.IsNull() && b.False()
}

// instance is one repetition of a resource block.
type instance struct {
	key  string               // address suffix: `["a"]`, `[0]`, or "" when not repeated
	name string               // key in the for_each map (or the count index)
	vars map[string]cty.Value // each / count for its expressions
}

// expand evaluates for_each or count into instances.
func expand(r *config.Resource, ctx *hcl.EvalContext) ([]instance, hcl.Diagnostics) {
	switch {
	case r.ForEach != nil:
		v, diags := r.ForEach.Value(ctx)
		if diags.HasErrors() {
			return nil, diags
		}
		// The keys become resource addresses, shown in every plan and
		// event: a sensitive map or set would show its secrets there.
		if v.IsMarked() || v.Type().IsSetType() && v.ContainsMarked() {
			return nil, append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Sensitive for_each",
				Detail:   "for_each's keys name the instances in plans and events, so they cannot be sensitive. Iterate over keys that are not secret: a map whose values only are sensitive, or nonsensitive(...) around keys you know are safe to show.",
				Subject:  r.ForEach.Range().Ptr(),
			})
		}
		bad := func(why string) hcl.Diagnostics {
			return append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid for_each value",
				Detail:   why + " Give a map, or a set of strings (toset([...])).",
				Subject:  r.ForEach.Range().Ptr(),
			})
		}
		if v.IsNull() || !v.IsWhollyKnown() {
			return nil, bad("for_each is null or not known before apply.")
		}
		ty := v.Type()
		var out []instance
		switch {
		case ty.IsMapType() || ty.IsObjectType():
			for it := v.ElementIterator(); it.Next(); {
				k, val := it.Element()
				out = append(out, eachInstance(k.AsString(), val))
			}
		case ty.IsSetType() && ty.ElementType() == cty.String:
			for it := v.ElementIterator(); it.Next(); {
				_, val := it.Element()
				if val.IsNull() {
					return nil, bad("for_each has a null element.")
				}
				out = append(out, eachInstance(val.AsString(), val))
			}
		default:
			return nil, bad(fmt.Sprintf("for_each is a %s.", ty.FriendlyName()))
		}
		return out, diags
	case r.Count != nil:
		v, diags := r.Count.Value(ctx)
		if diags.HasErrors() {
			return nil, diags
		}
		v, _ = v.Unmark()
		n, err := convert.Convert(v, cty.Number)
		var count int
		if err == nil && !n.IsNull() && n.IsKnown() {
			bf := n.AsBigFloat()
			if i, acc := bf.Int64(); acc == 0 && i >= 0 && i <= 100000 {
				count = int(i)
			} else {
				err = fmt.Errorf("not a whole number from 0 to 100000")
			}
		} else if err == nil {
			err = fmt.Errorf("null or not known before apply")
		}
		if err != nil {
			return nil, append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid count value",
				Detail:   fmt.Sprintf("count must be a whole number from 0 to 100000 (%v).", err),
				Subject:  r.Count.Range().Ptr(),
			})
		}
		out := make([]instance, count)
		for i := range out {
			out[i] = instance{
				key:  fmt.Sprintf("[%d]", i),
				name: fmt.Sprint(i),
				vars: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})},
			}
		}
		return out, diags
	}
	return []instance{{}}, nil
}

func eachInstance(key string, val cty.Value) instance {
	return instance{
		key:  fmt.Sprintf("[%q]", key),
		name: key,
		vars: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(key), "value": val})},
	}
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

// decodeNode decodes one instance of a resource for the host of scope. The
// Config it builds lives only as long as the module's New: a Node keeps the
// module's own Impl, not every field of every resource of every host.
func decodeNode(r *config.Resource, ctx *hcl.EvalContext, key string, scope Scope) (*Node, hcl.Diagnostics) {
	host := hostName(scope)
	vals, diags := r.DecodeFields(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg := resource.Config{Name: r.Name, BaseDir: r.BaseDir, Values: make(map[string]cty.Value, len(r.Type.Fields)), Sensitive: map[string]bool{}}
	for _, f := range r.Type.Fields {
		v := vals[f.Name]
		if v.IsNull() && f.Default != cty.NilVal {
			v = f.Default
		}
		vals[f.Name] = v
		plain, marks := v.UnmarkDeepWithPaths()
		if !plain.IsWhollyKnown() {
			if d := afterApply(r, f.Name, marks, host); d != nil {
				return nil, append(diags, d)
			}
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
	n := &Node{Res: r, Key: key, Impl: impl, Config: &cfg, Value: cty.ObjectVal(vals)}
	n.Value = withComputed(n, scope, cfg)
	return n, diags
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

func evalLocals(locals []*config.Local, base map[string]cty.Value, fns map[string]function.Function) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	byName := map[string]*config.Local{}
	for _, l := range locals {
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
	for _, l := range locals {
		visit(l, nil)
	}
	return out, diags
}

type ref struct {
	addr      string
	rng       hcl.Range
	watch     bool
	onchanges bool
	onfail    bool
	prereq    bool // the referenced resource is a prereq of this one
	reverse   bool // declared on the other resource (notify, prereq)
	expr      bool // found in an expression, not in a requisite
}

// resourceRefs lists the resources r depends on: depends_on, watch and
// references in its expressions.
func resourceRefs(r *config.Resource) []ref {
	var out []ref
	seen := map[string]int{}
	add := func(x ref) {
		if x.addr == r.Addr() && !x.expr {
			return // reported when loading
		}
		if i, ok := seen[x.addr]; ok {
			o := &out[i]
			o.watch, o.onchanges, o.onfail = o.watch || x.watch, o.onchanges || x.onchanges, o.onfail || x.onfail
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
	for _, w := range r.OnChanges {
		add(ref{addr: w.Addr, rng: w.Range, onchanges: true})
	}
	for _, w := range r.OnFail {
		add(ref{addr: w.Addr, rng: w.Range, onfail: true})
	}
	trs := hcldec.Variables(r.Body, r.Spec)
	for _, e := range r.MetaExprs() {
		trs = append(trs, e.Variables()...)
	}
	for _, tr := range trs {
		if len(tr) < 2 {
			continue
		}
		a, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		switch _, isType := resource.Lookup(tr.RootName()); {
		case tr.RootName() == "role":
			add(ref{addr: r.Prefix() + "role." + a.Name, rng: tr.SourceRange(), expr: true})
		case isType:
			add(ref{addr: r.Prefix() + tr.RootName() + "." + a.Name, rng: tr.SourceRange(), expr: true})
		}
	}
	return out
}

func addReverse(refs []ref, x ref) []ref {
	for i := range refs {
		if refs[i].addr == x.addr {
			refs[i].watch = refs[i].watch || x.watch
			refs[i].prereq = refs[i].prereq || x.prereq
			return refs
		}
	}
	return append(refs, x)
}

// resourceOrder sorts the site's resources so that every resource comes
// after those it refers to, keeping declaration order otherwise. A cycle is
// a diagnostic that names every resource in it.
func (p *Program) resourceOrder() ([]*config.Resource, hcl.Diagnostics) {
	site := p.Site
	var diags hcl.Diagnostics
	byAddr := map[string]*config.Resource{}
	roleMembers := map[string][]*config.Resource{}
	for _, r := range site.Resources {
		byAddr[r.Addr()] = r
		for role := r.Role; role != nil; role = role.Parent {
			roleMembers[role.Addr()] = append(roleMembers[role.Addr()], r)
		}
	}
	for _, role := range site.Roles {
		if _, ok := roleMembers[role.Addr()]; !ok {
			roleMembers[role.Addr()] = nil
		}
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
			} else if members, ok := roleMembers[x.addr]; ok {
				for _, m := range members {
					visit(m)
				}
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
