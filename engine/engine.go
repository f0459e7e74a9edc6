// Package engine runs a site against hosts: it loads and evaluates the
// configuration, connects to each host once, probes every resource in one
// batched session, builds the plan, and applies it in dependency order.
// It knows nothing about particular modules: it drives them through the
// contract in engine/resource.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/sourcegraph/conc/pool"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/engine/probe"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// DefaultParallelism is how many hosts are handled at once: a whole rack.
const DefaultParallelism = 64

// Dialer opens a transport to a host.
type Dialer func(ctx context.Context, h *inventory.Host) (transport.Host, error)

// Options configure a run.
type Options struct {
	SiteDir     string
	Hosts       []*inventory.Host // selected hosts, in inventory order
	Inputs      eval.Inputs
	Parallelism int
	// HostTimeout bounds each host's plan and, separately, its apply
	// (0: none): a board that hangs mid-command is failed with the reason
	// and its command killed, instead of holding the run forever.
	HostTimeout time.Duration
	Dial        Dialer // nil: SSH
	// Library lists the state library's directories (roles named without
	// a path); Inventory resolves roles' targets (nil: by host name and
	// group only).
	Library   []string
	Inventory *inventory.Inventory
	// Partial: the inventory holds only the hosts applied (a pull bundle's),
	// so a role target that selects none of them is no mistake.
	Partial bool
	// Outputs, when set, is the `outputs` object each selected host reads,
	// evaluated elsewhere: a pull-mode bundle carries them (carried.go).
	// Those hosts read them instead of evaluating the hosts they come from.
	Outputs map[string]cty.Value
	// FactsCache is a directory where hosts' facts are kept between runs
	// ("": none), so that a site using facts still probes in one session.
	FactsCache string
	// Started, when set, is told each time a resource's change (or
	// refresh) begins on a host, for live progress displays. It must not
	// block; it may be called from several hosts' goroutines at once.
	Started func(host, addr string)
	// Finished, when set, is told each host's result as its apply (or its
	// part of a stage) ends, lock released; same rules as Started.
	Finished func(HostResult)
}

// Run is one plan (and maybe apply) over a set of hosts. It keeps one
// connection per host from planning to applying.
type Run struct {
	opts    Options
	Site    *config.Site
	program *eval.Program
	vars    cty.Value
	hosts   []*hostRun

	fleet      cty.Value                  // the inventory object; cty.NilVal without an inventory
	fleetFacts map[string]inventory.Facts // the hosts' facts it holds
	selMu      sync.Mutex
	selected   map[string]map[string]bool // role target selector → host names

	order   *hostOrder // which hosts read which hosts' outputs
	outMu   sync.Mutex
	offline map[string]offlineOutputs // outputs of hosts outside the run
	failed  map[string]string         // hosts not applied in this run: why, for their readers
	applied map[string]bool           // hosts applied in this run
	// capturing: some resource of the site reads values from its host
	// (deferred.go).
	capturing bool
}

type hostRun struct {
	inv     *inventory.Host
	conn    transport.Host
	dial    Dialer                  // Options.Dial, to reach the host again after a reboot
	onStart func(host, addr string) // Options.Started
	graph   *eval.HostGraph
	diffs   []*resource.Diff // parallel to graph.Nodes
	plan    *plan.HostPlan
	dials   int
	// owed lists the refreshes that earlier runs owe this host (from its
	// journal); pending marks the nodes this run must refresh.
	owed    []string
	pending []bool
	// status and refreshed are this run's outcome of each node so far: a
	// staged run applies a host in several calls.
	status    []Status
	refreshed []bool
	// With cached facts: the facts, and the graph and diagnostics
	// evaluated from them, used once the probe session confirms the facts.
	cachedFacts inventory.Facts
	gathered    inventory.Facts // gathered in this run (when they differ from the cache)
	specGraph   *eval.HostGraph
	specDiags   hcl.Diagnostics
	// readOutputs is the `outputs` object its graph was evaluated with:
	// when a producer's outputs turn out otherwise, it is evaluated again.
	readOutputs cty.Value
	factVal     cty.Value // the facts its graph was evaluated with
	// deferred says why its resources are known only after the hosts
	// deferredOn are applied (deferred.go); captured is what its captures
	// read, capturesLate that some are read only after its apply, and
	// outs its role outputs evaluated with them.
	deferred     string
	deferredOn   []string
	captured     map[string]map[string]cty.Value
	capturesLate bool
	outs         map[string]cty.Value
	drained      bool // taken out of service by a rollout's drain, not yet put back
}

// Load reads and checks the site and its variables. Nothing is contacted.
func Load(opts Options) (*Run, hcl.Diagnostics) {
	if opts.Parallelism <= 0 {
		opts.Parallelism = DefaultParallelism
	}
	if opts.Dial == nil {
		opts.Dial = Dial
	}
	r := &Run{opts: opts}
	site, diags := config.Load(opts.SiteDir, config.Options{Library: opts.Library})
	r.Site = site
	vars, d := eval.Variables(site, opts.Inputs)
	diags = append(diags, d...)
	program, d := eval.Compile(site)
	diags = append(diags, d...)
	diags = append(diags, checkStages(site)...)
	r.vars, r.program = vars, program
	if diags.HasErrors() {
		return r, diags
	}
	for _, h := range opts.Hosts {
		r.hosts = append(r.hosts, &hostRun{inv: h, onStart: opts.Started, dial: opts.Dial})
	}
	if opts.Inventory != nil {
		r.fleetFacts = map[string]inventory.Facts{}
		if program.UsesInventory {
			cache := factCache(opts.FactsCache)
			for _, h := range opts.Inventory.Hosts {
				if f := cache.load(h); f != nil {
					r.fleetFacts[h.Name] = f
				}
			}
		}
		r.fleet = inventoryValue(opts.Inventory, site, r.factsOf)
	}
	for _, res := range site.Resources {
		r.capturing = r.capturing || len(res.Type.Computed) > 0
	}
	r.order, d = r.orderHosts()
	diags = append(diags, d...)
	if d.HasErrors() {
		return r, diags
	}
	// A target that selects nothing is most likely a typo: say so.
	if opts.Inventory != nil && !opts.Partial {
		for _, role := range site.Roles {
			for _, sel := range role.Targets {
				if _, err := opts.Inventory.Select(sel); err != nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagWarning,
						Summary:  "Role target selects no host",
						Detail:   fmt.Sprintf("Role %s: %v. The role is applied to no host through this target.", role.Name, err),
						Subject:  role.DeclRange.Ptr(),
					})
				}
			}
		}
	}
	// Without facts, every host can be evaluated before any connection, so
	// a configuration error stops the run before anything is contacted.
	if !program.UsesFacts {
		diags = append(diags, r.evalHosts(nil)...)
	}
	return r, diags
}

// Variables is the site's variables as resolved for this run (its inputs
// and defaults; sensitive values marked).
func (r *Run) Variables() cty.Value { return r.vars }

// Dial connects to an inventory host: over SSH, or to this machine for a
// host with connection = "local".
func Dial(ctx context.Context, h *inventory.Host) (transport.Host, error) {
	if h.Local {
		return transport.NewLocal(), nil
	}
	return transport.DialSSH(ctx, SSHConfig(h))
}

// SSHConfig is how to reach an inventory host over SSH (without a sudo
// password: a Dialer that has one adds it).
func SSHConfig(h *inventory.Host) transport.SSHConfig {
	return transport.SSHConfig{
		Address:        h.Address,
		Port:           h.Port,
		User:           h.User,
		IdentityFile:   h.IdentityFile,
		KnownHosts:     h.KnownHosts,
		ConnectTimeout: h.ConnectTimeout,
	}
}

func hostValue(h *inventory.Host) cty.Value {
	groups := make([]cty.Value, 0, len(h.Groups))
	for _, g := range h.Groups {
		groups = append(groups, cty.StringVal(g))
	}
	gv := cty.ListValEmpty(cty.String)
	if len(groups) > 0 {
		gv = cty.ListVal(groups)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"name":    cty.StringVal(h.Name),
		"address": cty.StringVal(h.Address),
		"groups":  gv,
		"vars":    h.VarsValue(),
	})
}

// selects matches roles' target selectors against a host through the
// inventory, each selector resolved once per run.
func (r *Run) selects(h *inventory.Host) func(string) bool {
	if r.opts.Inventory == nil {
		return nil
	}
	return func(sel string) bool {
		r.selMu.Lock()
		defer r.selMu.Unlock()
		set, ok := r.selected[sel]
		if !ok {
			set = map[string]bool{}
			hosts, _ := r.opts.Inventory.Select(sel) // no match selects nothing
			for _, x := range hosts {
				set[x.Name] = true
			}
			if r.selected == nil {
				r.selected = map[string]map[string]bool{}
			}
			r.selected[sel] = set
		}
		return set[h.Name]
	}
}

func (r *Run) scope(h *hostRun) eval.Scope {
	return eval.Scope{Var: r.vars, Host: hostValue(h.inv), Selects: r.selects(h.inv), Inventory: r.fleet}
}

// outputScope is the host's scope with the outputs of the hosts it reads,
// which must have been evaluated before it (evalOrder).
func (r *Run) outputScope(h *hostRun) (eval.Scope, error) {
	scope := r.scope(h)
	outs, err := r.outputsFor(h)
	if err != nil {
		return scope, err
	}
	scope.Outputs, h.readOutputs = outs, outs
	return scope, nil
}

// stale reports whether a host evaluated already read outputs that have
// changed since (a producer's facts were not those cached).
func (r *Run) stale(h *hostRun) bool {
	if len(r.program.Reads) == 0 {
		return false
	}
	outs, err := r.outputsFor(h)
	return err != nil || h.readOutputs == cty.NilVal || !outs.RawEquals(h.readOutputs)
}

// evalHosts evaluates the site for each host (all of them when facts is
// nil). Diagnostics that several hosts share are reported once, with the
// hosts named.
func (r *Run) evalHosts(facts map[*hostRun]cty.Value) hcl.Diagnostics {
	type key struct{ summary, detail, subject string }
	var order []key
	byKey := map[key]*hcl.Diagnostic{}
	hostsOf := map[key][]string{}
	add := func(h *hostRun, diags hcl.Diagnostics) {
		for _, d := range diags {
			k := key{d.Summary, d.Detail, fmt.Sprint(d.Subject)}
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
				byKey[k] = d
			}
			hostsOf[k] = append(hostsOf[k], h.inv.Name)
		}
	}
	for _, h := range r.evalOrder() { // producers of outputs first
		if h.graph != nil && facts != nil && r.stale(h) {
			// Planned from cached facts, but outputs it reads changed
			// with a producer's fresh facts: evaluate and probe it again.
			h.graph, h.diffs, h.specDiags = nil, nil, nil
			h.plan = &plan.HostPlan{Host: h.inv.Name}
			facts[h] = h.cachedFacts.Value()
		}
		if h.graph != nil {
			// Evaluated from cached facts that the probe confirmed: report
			// its warnings like any host's.
			add(h, h.specDiags)
			h.specDiags = nil
			continue
		}
		if facts != nil {
			if _, ok := facts[h]; !ok {
				continue
			}
		}
		scope, err := r.outputScope(h)
		if err != nil {
			if h.plan != nil {
				h.plan.Error = err
			} else {
				d := err.Error() // "it reads outputs.db of db1, ..."
				add(h, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Outputs of another host unavailable", Detail: strings.ToUpper(d[:1]) + d[1:] + "."}})
			}
			continue
		}
		if facts != nil {
			scope.Fact = facts[h]
		}
		g, diags := r.evaluate(h, scope)
		h.graph = g
		add(h, diags)
		if diags.HasErrors() {
			h.graph = nil
		}
	}
	var out hcl.Diagnostics
	for _, k := range order {
		d := *byKey[k]
		if len(hostsOf[k]) < len(r.hosts) || len(r.hosts) == 1 {
			d.Detail = strings.TrimSpace(d.Detail + " (host " + strings.Join(hostsOf[k], ", ") + ")")
		}
		out = append(out, &d)
	}
	return out
}

// Plan connects to every host, probes it and computes its plan. Hosts that
// cannot be reached are in the plan with their error; the others go on.
// Diagnostics are configuration errors found after gathering facts.
func (r *Run) Plan(ctx context.Context) (*plan.Plan, hcl.Diagnostics) {
	var mu sync.Mutex
	facts := map[*hostRun]cty.Value{}
	cache := factCache(r.opts.FactsCache)
	if r.program.UsesFacts {
		r.speculate()
	}
	p := pool.New().WithMaxGoroutines(r.opts.Parallelism)
	for _, h := range r.hosts {
		p.Go(func() {
			ctx, cancel := r.hostContext(ctx)
			defer cancel()
			h.plan = &plan.HostPlan{Host: h.inv.Name}
			defer r.explainTimeout(ctx, &h.plan.Error)
			h.dials++
			conn, err := r.opts.Dial(ctx, h.inv)
			if err != nil {
				h.plan.Error = err
				return
			}
			h.conn = conn
			if r.program.UsesFacts {
				var f inventory.Facts
				if h.specGraph != nil {
					// Facts and probes in one session; a plan when the
					// cached facts still hold.
					var ok bool
					if f, ok = h.probeWithFacts(ctx); ok || h.plan.Error != nil {
						return
					}
				} else {
					var err error
					if f, err = GatherFacts(ctx, conn); err != nil {
						h.plan.Error = err
						return
					}
				}
				cache.store(h.inv, f)
				h.gathered = f
				mu.Lock()
				facts[h] = f.Value()
				mu.Unlock()
				return
			}
			// Without facts the graph is known already: probe on the
			// connection just opened rather than waiting for the slowest dial.
			if h.graph != nil {
				h.probe(ctx)
			}
		})
	}
	p.Wait()
	if !r.program.UsesFacts {
		r.settleOutputs(ctx)
		return r.plan(), nil
	}
	r.refreshFleetFacts(facts)
	diags := r.evalHosts(facts)
	if diags.HasErrors() {
		return r.plan(), diags
	}
	var probe []*hostRun
	for _, h := range r.hosts {
		// Hosts planned from confirmed cached facts are done already.
		if _, fresh := facts[h]; fresh && h.plan.Error == nil && h.graph != nil {
			probe = append(probe, h)
		}
	}
	r.probeHosts(ctx, probe)
	r.settleOutputs(ctx)
	return r.plan(), diags
}

// probeHosts probes hosts side by side, each within its host timeout.
func (r *Run) probeHosts(ctx context.Context, hosts []*hostRun) {
	p := pool.New().WithMaxGoroutines(r.opts.Parallelism)
	for _, h := range hosts {
		p.Go(func() {
			ctx, cancel := r.hostContext(ctx)
			defer cancel()
			defer r.explainTimeout(ctx, &h.plan.Error)
			h.probe(ctx)
		})
	}
	p.Wait()
}

// factsOf is what the inventory object holds of a host's facts.
func (r *Run) factsOf(h *inventory.Host) inventory.Facts { return r.fleetFacts[h.Name] }

// refreshFleetFacts puts the facts gathered in this run into the inventory
// object. When some differ from those it held (cached ones), hosts planned
// from it already may have read them (inventory.hosts.X.facts): they are
// evaluated and probed again with the rest, one more session each, only
// then and only for a site that reads the inventory.
func (r *Run) refreshFleetFacts(fresh map[*hostRun]cty.Value) {
	if r.opts.Inventory == nil || !r.program.UsesInventory {
		return
	}
	changed := false
	for _, h := range r.hosts {
		if _, ok := fresh[h]; !ok || h.gathered == nil {
			continue
		}
		if !sameFacts(h.gathered, r.fleetFacts[h.inv.Name]) {
			r.fleetFacts[h.inv.Name] = h.gathered
			changed = true
		}
	}
	if !changed {
		return
	}
	r.fleet = inventoryValue(r.opts.Inventory, r.Site, r.factsOf)
	for _, h := range r.hosts {
		if _, ok := fresh[h]; ok || h.graph == nil || h.plan.Error != nil {
			continue
		}
		h.graph, h.diffs, h.specDiags = nil, nil, nil
		h.plan = &plan.HostPlan{Host: h.inv.Name}
		fresh[h] = h.cachedFacts.Value()
	}
}

// hostContext bounds one host's work by HostTimeout.
func (r *Run) hostContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.opts.HostTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, r.opts.HostTimeout)
}

// explainTimeout turns a host's bare "context deadline exceeded" into what
// happened, when its own deadline (not the run's) passed.
func (r *Run) explainTimeout(ctx context.Context, err *error) {
	if *err != nil && r.opts.HostTimeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && errors.Is(*err, context.DeadlineExceeded) {
		*err = hostTimeout(r.opts.HostTimeout)
	}
}

// ErrHostTimeout is what a host that ran past --host-timeout failed with.
var ErrHostTimeout = errors.New("host timed out")

type hostTimeout time.Duration

func (d hostTimeout) Error() string {
	return fmt.Sprintf("timed out after %s (--host-timeout); its command was ended", time.Duration(d))
}

func (hostTimeout) Is(target error) bool { return target == ErrHostTimeout }

func (r *Run) plan() *plan.Plan {
	out := &plan.Plan{}
	for _, h := range r.hosts {
		if h.plan != nil && h.plan.Error == nil && h.graph == nil {
			h.plan.Deferred = h.deferred
		}
		out.Hosts = append(out.Hosts, h.plan)
	}
	return out
}

// GatherFacts runs the facts script in one session.
func GatherFacts(ctx context.Context, conn transport.Host) (inventory.Facts, error) {
	res, err := conn.Run(ctx, inventory.FactsScript(), nil)
	if err != nil {
		return nil, err
	}
	if err := res.Err("gathering facts"); err != nil {
		return nil, err
	}
	return inventory.ParseFacts(res.Stdout)
}

// probe runs the batched probe of a host and plans each resource.
func (h *hostRun) probe(ctx context.Context) {
	outs, batches, ok := h.runProbe(ctx, h.graph.Nodes, false)
	if ok {
		h.planProbed(outs, batches)
	}
}

// probeWithFacts probes the graph evaluated from cached facts, gathering
// the facts in the same session. When they are unchanged the graph is the
// host's and is planned (true); otherwise the fresh facts are returned for
// another evaluation and probe. A failure is the host's plan error.
func (h *hostRun) probeWithFacts(ctx context.Context) (inventory.Facts, bool) {
	outs, batches, ok := h.runProbe(ctx, h.specGraph.Nodes, true)
	if !ok {
		return nil, false
	}
	f, err := inventory.ParseFacts(outs[0].Stdout)
	if err != nil {
		h.plan.Error = fmt.Errorf("gathering facts: %w", err)
		return nil, false
	}
	if !sameFacts(f, h.cachedFacts) {
		return f, false
	}
	h.graph = h.specGraph
	h.planProbed(outs[1:], batches)
	return f, true
}

// runProbe runs the probe script of nodes (after the facts script when
// withFacts) in one session and returns the snippets' outputs.
func (h *hostRun) runProbe(ctx context.Context, nodes []*eval.Node, withFacts bool) ([]resource.ProbeResult, []probeBatch, bool) {
	batches := batchProbes(nodes)
	var snippets []string
	if withFacts {
		snippets = append(snippets, inventory.FactsScript())
	}
	for _, b := range batches {
		snippets = append(snippets, b.snippet)
	}
	snippets = append(snippets, journalProbe)
	script := probe.New(snippets)
	// The script holds the snippets now: not both while the host answers.
	for i := range batches {
		batches[i].snippet = ""
	}
	res, err := h.conn.Run(ctx, "exec sh -s", strings.NewReader(script.Text))
	if err == nil {
		err = res.Err("probe")
	}
	var outs []resource.ProbeResult
	if err == nil {
		outs, err = script.Parse(res.Stdout)
	}
	if err != nil {
		h.plan.Error = fmt.Errorf("probing: %w", err)
		return nil, nil, false
	}
	return outs, batches, true
}

// planProbed plans each resource of the host's graph from its probe
// output (outs: one per batch, then the journal's).
func (h *hostRun) planProbed(outs []resource.ProbeResult, batches []probeBatch) {
	nodes := h.graph.Nodes
	h.owed = parseJournal(outs[len(batches)].Stdout)
	h.plan.JournalHash = probeHash(outs[len(batches)])
	results := make([]resource.ProbeResult, len(nodes))
	probeErrs := make([]error, len(nodes))
	for i, b := range batches {
		if b.split == nil {
			results[b.nodes[0]] = outs[i]
			continue
		}
		rs, err := b.split(outs[i])
		if err == nil && len(rs) != len(b.nodes) {
			err = fmt.Errorf("batched probe returned %d results for %d resources", len(rs), len(b.nodes))
		}
		for k, ni := range b.nodes {
			if err != nil {
				probeErrs[ni] = fmt.Errorf("probing: %w", err)
			} else {
				results[ni] = rs[k]
			}
		}
	}
	h.diffs = make([]*resource.Diff, len(nodes))
	index := map[*eval.Node]int{}
	for i, n := range nodes {
		index[n] = i
		rp := &plan.ResourcePlan{Addr: n.Addr(), ProbeHash: probeHash(results[i])}
		h.plan.Resources = append(h.plan.Resources, rp)
		err := probeErrs[i]
		var d *resource.Diff
		if err == nil {
			d, err = n.Impl.Plan(results[i])
		}
		if err != nil {
			rp.Error = err
			continue
		}
		if d == nil {
			d = &resource.Diff{}
		}
		h.diffs[i] = d
		rp.Action, rp.Changes, rp.Diff = d.Action, d.Changes, d.TextDiff
	}
	h.planRequisites(index)
	h.readCaptures(results)
}

func probeHash(r resource.ProbeResult) string {
	sum := sha256.Sum256(append(r.Stdout, fmt.Sprintf("\x00%d", r.ExitCode)...))
	return hex.EncodeToString(sum[:16])
}

// Refuse takes a host out of the apply, with the reason (a saved plan
// found it drifted).
func (r *Run) Refuse(host string, err error) {
	for _, h := range r.hosts {
		if h.inv.Name == host && h.plan != nil {
			h.plan.Error = err
		}
	}
}

// probeBatch is one snippet of a host's probe script: either one resource's
// own Probe, or one BatchProber snippet for every resource of a type.
type probeBatch struct {
	snippet string
	nodes   []int // indexes into the host's nodes
	split   func(resource.ProbeResult) ([]resource.ProbeResult, error)
}

// batchProbes folds the probes of resources of the same type into one
// snippet where the type supports it, so that a host with a hundred files
// runs one stat and one sha256sum, not two hundred processes.
func batchProbes(nodes []*eval.Node) []probeBatch {
	byType := map[string][]int{}
	for i, n := range nodes {
		if _, ok := n.Impl.(resource.BatchProber); ok {
			byType[n.Res.Type.Name] = append(byType[n.Res.Type.Name], i)
		}
	}
	var out []probeBatch
	done := map[string]bool{}
	for i, n := range nodes {
		idx := byType[n.Res.Type.Name]
		if len(idx) < 2 {
			out = append(out, probeBatch{snippet: n.Impl.Probe(), nodes: []int{i}})
			continue
		}
		if done[n.Res.Type.Name] {
			continue
		}
		done[n.Res.Type.Name] = true
		rs := make([]resource.Resource, len(idx))
		for k, ni := range idx {
			rs[k] = nodes[ni].Impl
		}
		snippet, split := n.Impl.(resource.BatchProber).ProbeAll(rs)
		out = append(out, probeBatch{snippet: snippet, nodes: idx, split: split})
	}
	return out
}

func refreshVerb(n *eval.Node) string {
	if n.Res.Type.Refresh != "" {
		return n.Res.Type.Refresh
	}
	return "refresh"
}

// Status is how a resource ended in an apply.
type Status string

const (
	StatusUnchanged Status = "unchanged"
	StatusChanged   Status = "changed"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped" // a dependency failed
)

// Event reports one resource's outcome during apply.
type Event struct {
	Host   string
	Addr   string
	Action resource.Action
	Status Status
	Err    error
	Note   string // "restarted (watch)"
}

// HostResult is one host's outcome.
type HostResult struct {
	Host                     string
	Changed, Failed, Skipped int
	Err                      error // unreachable or not planned
}

// Apply applies the plan computed by Plan on every host that planned
// cleanly. Hosts go in parallel; within a host, resources follow their
// dependencies, and dependents of a failed resource are skipped.
func (r *Run) Apply(ctx context.Context, onEvent func(Event)) []HostResult {
	return r.ApplyRollout(ctx, Rollout{}, nil, onEvent).Results
}

// applyHosts applies the given hosts (indexes) in parallel.
func (r *Run) applyHosts(ctx context.Context, idx []int, only func(*eval.Node) bool, onEvent func(Event)) []HostResult {
	var mu sync.Mutex
	emit := func(e Event) {
		if onEvent != nil {
			mu.Lock()
			onEvent(e)
			mu.Unlock()
		}
	}
	results := make([]HostResult, len(idx))
	p := pool.New().WithMaxGoroutines(r.opts.Parallelism)
	for j, i := range idx {
		h := r.hosts[i]
		if h.plan == nil || h.plan.Error != nil || h.diffs == nil {
			results[j] = HostResult{Host: h.inv.Name, Err: errors.New("not planned")}
			if h.plan != nil && h.plan.Error != nil {
				results[j].Err = h.plan.Error
			}
			continue
		}
		p.Go(func() {
			ctx, cancel := r.hostContext(ctx)
			defer cancel()
			results[j] = h.apply(ctx, only, emit)
			r.explainTimeout(ctx, &results[j].Err)
			if r.opts.Finished != nil {
				r.opts.Finished(results[j])
			}
		})
	}
	p.Wait()
	return results
}

// apply applies the host's plan. only, when not nil, limits it to the
// nodes it accepts (a stage's
// roles); what the others' statuses were in earlier calls still counts for
// dependencies and watches, as if the host were applied in one go.
func (h *hostRun) apply(ctx context.Context, only func(*eval.Node) bool, emit func(Event)) (res HostResult) {
	res = HostResult{Host: h.inv.Name}
	if !h.hasWork(only) {
		return res
	}
	// The first command run on the host takes its lock (lockingRunner).
	conn := &lockingRunner{conn: h.conn}
	defer func() {
		if conn.lockErr != nil {
			res.Err = conn.lockErr
			return
		}
		if conn.locked {
			// Even when the run was interrupted or timed out: a short
			// grace of its own, so the lock is not left behind.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := unlock(uctx, h.conn); err != nil && res.Err == nil {
				res.Err = err
			}
		}
	}()
	nodes := h.graph.Nodes
	index := map[*eval.Node]int{}
	for i, n := range nodes {
		index[n] = i
	}
	if h.status == nil {
		h.status = make([]Status, len(nodes))
		h.refreshed = make([]bool, len(nodes))
	}
	status, refreshed := h.status, h.refreshed
	// depsOK reports whether i's dependencies went well, or else why not.
	depsOK := func(i int) (bool, string) {
		for _, d := range nodes[i].Deps {
			s := status[index[d]]
			if s == "" && only != nil && !only(d) {
				return false, "it depends on " + d.Addr() + ", which no earlier stage applied"
			}
			if s == "" || (s == StatusFailed || s == StatusSkipped) && !contains(nodes[i].OnFail, d) {
				return false, "a dependency failed"
			}
		}
		return true, ""
	}
	statusOf := func(n *eval.Node) Status { return status[index[n]] }
	finish := func(i int, s Status, err error, note string) {
		if s == StatusFailed && errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = errors.New("the host timed out (--host-timeout); its command was ended")
		}
		status[i] = s
		switch s {
		case StatusChanged:
			res.Changed++
		case StatusFailed:
			res.Failed++
		case StatusSkipped:
			res.Skipped++
		}
		if s != StatusUnchanged {
			emit(Event{Host: h.inv.Name, Addr: nodes[i].Addr(), Action: h.plan.Resources[i].Action, Status: s, Err: err, Note: note})
		}
	}
	for i, n := range nodes {
		if status[i] != "" || only != nil && !only(n) {
			continue // applied with an aggregate, or in another stage
		}
		if h.diffs[i] == nil {
			finish(i, StatusFailed, h.plan.Resources[i].Error, "")
			continue
		}
		if ok, why := depsOK(i); !ok {
			finish(i, StatusSkipped, nil, why)
			continue
		}
		if ctx.Err() != nil {
			note := "interrupted"
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				note = "the host timed out"
			}
			finish(i, StatusSkipped, ctx.Err(), note)
			continue
		}
		d := h.diffs[i]
		if !gate(n, statusOf) {
			d = &resource.Diff{} // its onfail or onchanges requisites did not happen
		}
		if !d.Empty() {
			group := []int{i}
			if agg, ok := n.Impl.(resource.Aggregator); ok {
				// The resources of the same type that follow, ready now,
				// join this one transaction (one apt run for all packages,
				// one session for all files), up to the next resource of
				// another type with something to do: the order of the
				// changes stays the order of the plan, on which a site may
				// rely as Salt's declaration order.
			collect:
				for j := i + 1; j < len(nodes); j++ {
					if status[j] != "" || h.diffs[j] == nil || only != nil && !only(nodes[j]) {
						continue
					}
					if nodes[j].Res.Type != n.Res.Type {
						if h.diffs[j].Empty() && !h.pending[j] {
							continue // nothing to do there
						}
						break collect
					}
					switch {
					case h.pending[j]:
						break collect // its refresh keeps its place
					case h.diffs[j].Empty() || !gate(nodes[j], statusOf):
						continue // nothing to do there
					case !first(depsOK(j)):
						break collect // it waits for something; so do those after it
					}
					group = append(group, j)
				}
				h.started(nodes[i])
				rs := make([]resource.Resource, len(group))
				ds := make([]*resource.Diff, len(group))
				for k, j := range group {
					rs[k], ds[k] = nodes[j].Impl, h.diffs[j]
				}
				err := agg.ApplyAll(ctx, conn, rs, ds)
				if conn.lockErr != nil {
					break // the host is someone else's: nothing ran
				}
				var each resource.Errors
				if !errors.As(err, &each) || len(each) != len(group) {
					each = make(resource.Errors, len(group))
					for k := range each {
						each[k] = err
					}
				}
				for k, j := range group {
					if each[k] != nil {
						finish(j, StatusFailed, each[k], "")
					} else {
						finish(j, StatusChanged, nil, "")
					}
				}
				if each[0] != nil {
					continue
				}
			} else if err := h.started(n).Impl.Apply(ctx, conn, d); err != nil {
				if conn.lockErr != nil {
					break
				}
				finish(i, StatusFailed, err, "")
				continue
			} else if err := h.reconnect(ctx, conn, n); err != nil {
				finish(i, StatusFailed, err, "")
				continue
			} else {
				finish(i, StatusChanged, nil, "")
			}
		}
		// Refresh after every watched resource has been applied: they are
		// dependencies, so they come earlier in the order.
		if rf, ok := n.Impl.(resource.Refresher); ok {
			var changed []string
			for _, w := range n.Watch {
				if status[index[w]] == StatusChanged {
					changed = append(changed, w.Addr())
				}
			}
			why := strings.Join(changed, ", ") + " changed"
			if len(changed) == 0 && h.isOwed(n) {
				why = "owed by an earlier run"
			}
			if len(changed) > 0 || h.isOwed(n) {
				h.started(n)
				did, err := rf.Refresh(ctx, conn)
				if conn.lockErr != nil {
					break
				}
				if err == nil && did != "" {
					err = h.reconnect(ctx, conn, n)
				}
				refreshed[i] = err == nil
				switch {
				case err != nil:
					status[i] = ""
					finish(i, StatusFailed, fmt.Errorf("%s (%s): %w", refreshVerb(n), why, err), "")
				case did == "":
					// Nothing to do after all (just started, a guard said skip).
				case status[i] == StatusChanged:
					emit(Event{Host: h.inv.Name, Addr: n.Addr(), Action: resource.Run, Status: StatusChanged, Note: fmt.Sprintf("%s (%s)", did, why)})
				default:
					finish(i, StatusChanged, nil, fmt.Sprintf("%s (%s)", did, why))
				}
			}
		}
		if status[i] == "" {
			finish(i, StatusUnchanged, nil, "")
		}
	}
	if owed, changed := h.stillOwed(status, refreshed); changed {
		if err := h.writeJournal(ctx, owed); err != nil && res.Err == nil {
			res.Err = err
		} else if err == nil {
			h.owed = owed // a later stage's apply starts from what is on the host
		}
	}
	return res
}

func first(ok bool, _ string) bool { return ok }

// reconnect lets a resource that makes the host unreachable for a while
// (a reboot) reach it again; the run goes on over the new connection, which
// still holds the host's lock (it lives on the host's disk).
func (h *hostRun) reconnect(ctx context.Context, conn *lockingRunner, n *eval.Node) error {
	rc, ok := n.Impl.(resource.Reconnector)
	if !ok {
		return nil
	}
	return rc.Reconnect(ctx, func(ctx context.Context) (resource.Runner, error) {
		c, err := h.dial(ctx, h.inv)
		if err != nil {
			return nil, err
		}
		h.dials++
		if h.conn != nil {
			h.conn.Close()
		}
		h.conn, conn.conn = c, c
		return c, nil
	})
}

// started tells Options.Started that n's change begins, and returns n.
func (h *hostRun) started(n *eval.Node) *eval.Node {
	if h.onStart != nil {
		h.onStart(h.inv.Name, n.Addr())
	}
	return n
}

// hasWork reports whether applying would do anything on the host: a
// change, a refresh, or a failure to report.
func (h *hostRun) hasWork(only func(*eval.Node) bool) bool {
	for i, n := range h.graph.Nodes {
		if only != nil && !only(n) {
			continue
		}
		if h.diffs[i] == nil || !h.diffs[i].Empty() || h.pending[i] {
			return true
		}
	}
	return false
}

func (h *hostRun) isOwed(n *eval.Node) bool {
	return slices.Contains(h.owed, n.Addr())
}

// stillOwed lists the refreshes owed after this run: those the journal
// held for resources this site does not have, and every refresher whose
// watched resources changed (in this run or an earlier one) and that was
// not refreshed. It reports whether that differs from the journal.
func (h *hostRun) stillOwed(status []Status, refreshed []bool) ([]string, bool) {
	nodes := h.graph.Nodes
	index := map[*eval.Node]int{}
	inSite := map[string]bool{}
	for i, n := range nodes {
		index[n] = i
		inSite[n.Addr()] = true
	}
	var owed []string
	for _, a := range h.owed {
		if !inSite[a] {
			owed = append(owed, a)
		}
	}
	for i, n := range nodes {
		if _, ok := n.Impl.(resource.Refresher); !ok || refreshed[i] {
			continue
		}
		want := h.isOwed(n)
		for _, w := range n.Watch {
			want = want || status[index[w]] == StatusChanged
		}
		if want {
			owed = append(owed, n.Addr())
		}
	}
	slices.Sort(owed)
	old := slices.Clone(h.owed)
	slices.Sort(old)
	return owed, !slices.Equal(owed, old)
}

// Close ends every connection of the run.
func (r *Run) Close() {
	for _, h := range r.hosts {
		if h.conn != nil {
			h.conn.Close()
		}
	}
}

// HostStats is what a run cost one host.
type HostStats struct {
	Host        string
	Connections int
	Sessions    int
}

// Stats reports connections and command sessions per host, in host order
// (for --stats, benchmarks and the "connect once, ask once" tests).
func (r *Run) Stats() []HostStats {
	var out []HostStats
	for _, h := range r.hosts {
		st := HostStats{Host: h.inv.Name, Connections: h.dials}
		if h.conn != nil {
			st.Sessions = h.conn.Sessions()
		}
		out = append(out, st)
	}
	return out
}

// SortedTypes lists registered resource type names (for help texts).
func SortedTypes() []string {
	var out []string
	for _, t := range resource.Types() {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}
