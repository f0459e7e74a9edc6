package engine

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/inventory"
)

// A host that reads another host's role outputs (`outputs.ROLE`) is
// evaluated after it, and applied after it: the database host before the
// app hosts that read its address. These edges come from the site alone
// (which roles read which, and the roles' targets), so the order, and any
// cycle, is known before a host is contacted.

// hostEdge says host reads outputs of role on host on.
type hostEdge struct {
	on   string
	role string
	rng  hcl.Range
}

// hostOrder is the run's order of hosts by their reads.
type hostOrder struct {
	deps  map[string][]hostEdge      // by reading host, over the whole inventory
	reads map[string]map[string]bool // roles each host reads (its own carriers aside)
	eval  []string                   // every host whose outputs or graph the run needs, producers first
	level map[string]int             // run hosts: 0 reads no run host; else 1 + the highest level it reads
}

// universe is every host a site may read: the inventory's, else the run's.
func (r *Run) universe() []*inventory.Host {
	if r.opts.Inventory != nil {
		return r.opts.Inventory.Hosts
	}
	return r.opts.Hosts
}

// carriers lists the hosts a top-level role targets (every host for a role
// without targets): those its outputs may come from.
func (r *Run) carriers(role *config.Role) []string {
	var out []string
	for _, h := range r.universe() {
		if len(role.Targets) == 0 || slices.ContainsFunc(role.Targets, func(sel string) bool { return r.matches(h, sel) }) {
			out = append(out, h.Name)
		}
	}
	return out
}

// readRoles lists the roles a read reads: its own, or every top-level role
// with outputs for `outputs[expr]`.
func readRoles(site *config.Site, rd eval.OutputRead) []*config.Role {
	if rd.Role != nil {
		return []*config.Role{rd.Role}
	}
	var out []*config.Role
	for _, role := range site.Roles {
		if role.Parent == nil && len(role.Outputs) > 0 {
			out = append(out, role)
		}
	}
	return out
}

// orderHosts finds which hosts read which and orders them; a cycle among
// the hosts the run needs is an error naming each read in it.
func (r *Run) orderHosts() (*hostOrder, hcl.Diagnostics) {
	o := &hostOrder{deps: map[string][]hostEdge{}, reads: map[string]map[string]bool{}, level: map[string]int{}}
	if len(r.program.Reads) == 0 {
		for _, h := range r.hosts {
			o.eval = append(o.eval, h.inv.Name)
		}
		return o, nil
	}
	carriers := map[*config.Role][]string{}
	carry := func(role *config.Role) []string {
		if c, ok := carriers[role]; ok {
			return c
		}
		carriers[role] = r.carriers(role)
		return carriers[role]
	}
	var all []string
	for _, h := range r.universe() {
		all = append(all, h.Name)
	}
	type edgeKey struct{ from, on, role string }
	seen := map[edgeKey]bool{}
	for _, rd := range r.program.Reads {
		readers := all
		if rd.Reader != nil {
			readers = carry(rd.Reader)
		}
		for _, role := range readRoles(r.Site, rd) {
			for _, b := range readers {
				if o.reads[b] == nil {
					o.reads[b] = map[string]bool{}
				}
				o.reads[b][role.Name] = true
				for _, a := range carry(role) {
					if k := (edgeKey{b, a, role.Name}); a != b && !seen[k] {
						seen[k] = true
						o.deps[b] = append(o.deps[b], hostEdge{on: a, role: role.Name, rng: rd.Range})
					}
				}
			}
		}
	}
	// Depth-first from the run's hosts, producers first. A frame is a
	// host and the read that led to it.
	type frame struct {
		host string
		via  hostEdge
	}
	state := map[string]int{}
	var stack []frame
	var diags hcl.Diagnostics
	var visit func(name string, via hostEdge)
	visit = func(name string, via hostEdge) {
		switch state[name] {
		case 2:
			return
		case 1:
			i := len(stack) - 1
			for i > 0 && stack[i].host != name {
				i--
			}
			var steps []string
			for k := i + 1; k <= len(stack); k++ {
				from, e := stack[k-1].host, via
				if k < len(stack) {
					e = stack[k].via
				}
				steps = append(steps, fmt.Sprintf("%s reads outputs.%s of %s (%s:%d:%d)", from, e.role, e.on, e.rng.Filename, e.rng.Start.Line, e.rng.Start.Column))
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle between hosts",
				Detail:   "Each of these hosts would have to be applied before the other: " + strings.Join(steps, "; ") + ". Read the value from one side only, or give it to both roles as a variable.",
				Subject:  via.rng.Ptr(),
			})
			return
		}
		state[name] = 1
		stack = append(stack, frame{name, via})
		for _, e := range o.deps[name] {
			visit(e.on, e)
		}
		stack = stack[:len(stack)-1]
		state[name] = 2
		o.eval = append(o.eval, name)
	}
	for _, h := range r.hosts {
		visit(h.inv.Name, hostEdge{})
	}
	if diags.HasErrors() {
		return o, diags[:1] // one cycle is enough to act on
	}
	inRun := map[string]bool{}
	for _, h := range r.hosts {
		inRun[h.inv.Name] = true
	}
	for _, name := range o.eval { // producers come first
		if !inRun[name] {
			continue
		}
		for _, e := range o.deps[name] {
			if inRun[e.on] && o.level[e.on]+1 > o.level[name] {
				o.level[name] = o.level[e.on] + 1
			}
		}
	}
	return o, nil
}

// evalOrder is the run's hosts in the order their graphs are evaluated:
// every host after the hosts whose outputs it reads.
func (r *Run) evalOrder() []*hostRun {
	if r.order == nil || len(r.program.Reads) == 0 {
		return r.hosts
	}
	byName := map[string]*hostRun{}
	for _, h := range r.hosts {
		byName[h.inv.Name] = h
	}
	var out []*hostRun
	for _, name := range r.order.eval {
		if h, ok := byName[name]; ok {
			out = append(out, h)
		}
	}
	return out
}

// outputsFor is the `outputs` object a host sees: for each role the site
// reads, the other hosts' outputs of it by host name. A host whose outputs
// cannot be known (it could not be planned) makes this host's plan fail
// rather than leave it out, which would quietly drop it from, say, a
// proxy's upstreams.
func (r *Run) outputsFor(h *hostRun) (cty.Value, error) {
	if len(r.program.Reads) == 0 {
		return cty.NilVal, nil
	}
	if v, ok := r.opts.Outputs[h.inv.Name]; ok {
		return v, nil
	}
	if r.opts.Partial {
		// A board knows no other host: what it reads comes with its bundle.
		return cty.NilVal, errors.New("it reads other hosts' outputs and its bundle carries none: make the bundle again with this version of pinery")
	}
	read := r.order.reads[h.inv.Name]
	roles := map[string]cty.Value{}
	for _, role := range r.Site.Roles {
		if role.Parent != nil {
			continue
		}
		roles[role.Name] = cty.EmptyObjectVal
		if !read[role.Name] {
			continue
		}
		byHost := map[string]cty.Value{}
		for _, name := range r.carriers(role) {
			if name == h.inv.Name {
				continue
			}
			outs, err := r.hostOutputs(name)
			if err != nil {
				return cty.NilVal, fmt.Errorf("it reads outputs.%s of %s, %w", role.Name, name, err)
			}
			if v, ok := outs[role.Name]; ok {
				byHost[name] = v
			}
		}
		if len(byHost) > 0 {
			roles[role.Name] = cty.ObjectVal(byHost)
		}
	}
	return cty.ObjectVal(roles), nil
}

// hostOutputs is a host's role outputs: from its graph in this run, or,
// for a host outside the run, from its evaluation with the facts cached on
// this machine (evaluated once).
func (r *Run) hostOutputs(name string) (map[string]cty.Value, error) {
	for _, h := range r.hosts {
		if h.inv.Name != name {
			continue
		}
		switch g := h.outputGraph(); {
		case h.outs != nil:
			return h.outs, nil
		case g != nil:
			return g.Outputs, nil
		case h.deferred != "":
			// Its outputs too are known only after apply.
			outs := map[string]cty.Value{}
			for _, role := range r.Site.Roles {
				outs[role.Name] = cty.DynamicVal.Mark(eval.AfterApply{Host: name})
			}
			return outs, nil
		case h.plan != nil && h.plan.Error != nil:
			return nil, fmt.Errorf("which could not be planned: %w", h.plan.Error)
		default:
			return nil, errors.New("which could not be evaluated")
		}
	}
	// Not held while evaluating: that reads the host's own producers.
	r.outMu.Lock()
	got, ok := r.offline[name]
	r.outMu.Unlock()
	if ok {
		return got.outs, got.err
	}
	outs, err := r.evalOffline(name)
	r.outMu.Lock()
	defer r.outMu.Unlock()
	if r.offline == nil {
		r.offline = map[string]offlineOutputs{}
	}
	r.offline[name] = offlineOutputs{outs, err}
	return outs, err
}

type offlineOutputs struct {
	outs map[string]cty.Value
	err  error
}

// evalOffline evaluates a host outside the run for its outputs.
func (r *Run) evalOffline(name string) (map[string]cty.Value, error) {
	var inv *inventory.Host
	for _, h := range r.universe() {
		if h.Name == name {
			inv = h
		}
	}
	if inv == nil {
		return nil, errors.New("which is not in the inventory")
	}
	h := &hostRun{inv: inv}
	scope := r.scope(h)
	if r.program.UsesFacts {
		f := factCache(r.opts.FactsCache).load(inv)
		if f == nil {
			return nil, errors.New("which is not in this run and whose facts were never gathered on this machine: include it in the run (--limit) or run `pinery facts` on it once")
		}
		scope.Fact = f.Value()
	}
	outs, err := r.outputsFor(h)
	if err != nil {
		return nil, err
	}
	scope.Outputs = outs
	g, diags := r.program.Host(scope)
	if diags.HasErrors() {
		return nil, fmt.Errorf("which does not evaluate: %s", diags.Error())
	}
	for role, v := range g.Outputs {
		if plain, _ := v.UnmarkDeep(); !plain.IsWhollyKnown() {
			return nil, fmt.Errorf("whose outputs.%s it reads from the host (a capture) and which is not in this run: include it (--limit)", role)
		}
	}
	return g.Outputs, nil
}

// outputGraph is the graph the host's outputs come from: its own once
// evaluated, else the one evaluated from its cached facts.
func (h *hostRun) outputGraph() *eval.HostGraph {
	if h.graph != nil {
		return h.graph
	}
	return h.specGraph
}

// HostOrder lists the run's hosts by apply order when some read others'
// outputs: each level after the one before. nil when every host is
// independent.
func (r *Run) HostOrder() []HostLevel {
	if r.order == nil {
		return nil
	}
	top := 0
	for _, l := range r.order.level {
		top = max(top, l)
	}
	if top == 0 {
		return nil
	}
	out := make([]HostLevel, top+1)
	for _, h := range r.hosts {
		l := r.order.level[h.inv.Name]
		out[l].Hosts = append(out[l].Hosts, h.inv.Name)
		for _, e := range r.order.deps[h.inv.Name] {
			if r.inRun(e.on) {
				s := fmt.Sprintf("outputs.%s of %s", e.role, e.on)
				if !slices.Contains(out[l].Reads, s) {
					out[l].Reads = append(out[l].Reads, s)
				}
			}
		}
	}
	for i := range out {
		sort.Strings(out[i].Reads)
	}
	return out
}

// HostLevel is one step of the host order: its hosts, and what they read.
type HostLevel struct {
	Hosts []string
	Reads []string
}

func (r *Run) inRun(name string) bool {
	return slices.ContainsFunc(r.hosts, func(h *hostRun) bool { return h.inv.Name == name })
}

// byLevel splits hosts (indexes) by their level in the host order,
// keeping their order within a level.
func (r *Run) byLevel(idx []int) [][]int {
	if r.order == nil || len(r.order.level) == 0 {
		return [][]int{idx}
	}
	var out [][]int
	for _, i := range idx {
		l := r.order.level[r.hosts[i].inv.Name]
		for len(out) <= l {
			out = append(out, nil)
		}
		out[l] = append(out[l], i)
	}
	return slices.DeleteFunc(out, func(lv []int) bool { return len(lv) == 0 })
}

// holdBack takes out of a batch the hosts that read outputs of a host
// whose apply failed in this run, or was held back in turn: what they
// would be configured with may not exist. They stay untouched, with the
// reason, for --resume.
func (r *Run) holdBack(idx []int, out *RolloutResult) []int {
	if r.order == nil || len(r.failed) == 0 {
		return idx
	}
	return slices.DeleteFunc(slices.Clone(idx), func(i int) bool {
		name := r.hosts[i].inv.Name
		for _, e := range r.order.deps[name] {
			if why, ok := r.failed[e.on]; ok {
				out.Results[i].Err = fmt.Errorf("it reads outputs.%s of %s, %s", e.role, e.on, why)
				r.failed[name] = "which was not applied"
				return true
			}
		}
		return false
	})
}

// markFailed notes that host i failed in this run's apply.
func (r *Run) markFailed(i int) {
	if r.failed == nil {
		r.failed = map[string]string{}
	}
	r.failed[r.hosts[i].inv.Name] = "whose apply failed"
}
