package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/sourcegraph/conc/pool"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/engine/resource"
)

// Values known only after apply, across hosts. A capture (a resource type
// with Computed attributes) reads a value from its host in the host's
// probe; other hosts read it through the role outputs that use it. When
// something the capture depends on is about to change, the value read now
// would be stale: it is "known after apply", and so is every host whose
// configuration uses it. Such a host is deferred: not probed, shown as
// known after apply in the plan, and planned again once the hosts it waits
// for have been applied and their captures read again.

// evaluate evaluates a host's graph; a host whose resources wait for values
// other hosts' apply decides is deferred (no graph, no error).
func (r *Run) evaluate(h *hostRun, scope eval.Scope) (*eval.HostGraph, hcl.Diagnostics) {
	h.factVal, h.deferred, h.deferredOn, h.outs = scope.Fact, "", nil, nil
	scope.Captured = h.captured
	g, diags := r.program.Host(scope)
	if hosts, what, ok := eval.Deferred(diags); ok {
		h.deferred, h.deferredOn = what, hosts
		return nil, slices.DeleteFunc(diags, func(d *hcl.Diagnostic) bool { return d.Severity == hcl.DiagError })
	}
	return g, diags
}

// readCaptures turns the probe results of the host's captures into the
// values its outputs offer: read now, or, when something a capture
// depends on is about to change, known after apply (late).
func (h *hostRun) readCaptures(results []resource.ProbeResult) {
	h.captured, h.capturesLate = nil, false
	for i, n := range h.graph.Nodes {
		rd, ok := n.Impl.(resource.Reader)
		if !ok {
			continue
		}
		if h.captured == nil {
			h.captured = map[string]map[string]cty.Value{}
		}
		if h.changesBefore(n) {
			h.capturesLate = true
			continue // unknown: read after apply
		}
		vals, err := rd.Read(results[i])
		if err != nil {
			h.plan.Resources[i].Error = err
			h.diffs[i] = nil
			continue
		}
		h.captured[n.Addr()] = vals
	}
}

// changesBefore reports whether anything n depends on (transitively) is
// planned to change.
func (h *hostRun) changesBefore(n *eval.Node) bool {
	index := map[*eval.Node]int{}
	for i, x := range h.graph.Nodes {
		index[x] = i
	}
	seen := map[*eval.Node]bool{}
	var walk func(*eval.Node) bool
	walk = func(x *eval.Node) bool {
		for _, d := range x.Deps {
			if seen[d] {
				continue
			}
			seen[d] = true
			if df := h.diffs[index[d]]; df == nil || !df.Empty() || walk(d) {
				return true
			}
		}
		return false
	}
	return walk(n)
}

// settleOutputs, after the first probes, evaluates the outputs of hosts
// with captures with what they read, then plans again the hosts that read
// outputs which turned out otherwise than they were evaluated with (one
// more probe session each, only for sites with captures), producers first.
func (r *Run) settleOutputs(ctx context.Context) {
	if !r.capturing {
		return
	}
	order := r.evalOrder()
	for len(order) > 0 {
		// One level at a time: those whose producers are settled.
		var now []*hostRun
		level := r.order.level[order[0].inv.Name]
		for len(order) > 0 && r.order.level[order[0].inv.Name] == level {
			now, order = append(now, order[0]), order[1:]
		}
		var again []*hostRun
		for _, h := range now {
			if h.plan == nil || h.plan.Error != nil || (h.graph == nil && h.deferred == "") {
				continue
			}
			if r.stale(h) {
				again = append(again, h)
			} else {
				r.settle(h)
			}
		}
		var probe []*hostRun
		for _, h := range again {
			h.diffs = nil
			if err := r.reevaluate(h); err != nil {
				h.plan.Error = err
			} else if h.graph != nil { // else still known after apply
				probe = append(probe, h)
			}
		}
		r.probeHosts(ctx, probe)
		for _, h := range again {
			r.settle(h)
		}
	}
}

// settle evaluates a host's outputs with what its captures read.
func (r *Run) settle(h *hostRun) {
	if h.captured == nil || h.graph == nil {
		return
	}
	scope, err := r.outputScope(h)
	if err != nil {
		return
	}
	readOutputs := h.readOutputs
	scope.Fact, scope.Captured = h.factVal, h.captured
	if g, diags := r.program.Host(scope); !diags.HasErrors() {
		h.outs = g.Outputs
	}
	h.readOutputs = readOutputs
}

// planAgain plans a host afresh: evaluated with the outputs its producers
// offer now, then probed, on its connection (dialled when it has none). A
// deferred host is planned so once the hosts it waited for have been
// applied; a host back from a power cycle or a reboot with regather: on a
// new connection, with its facts gathered again.
func (r *Run) planAgain(ctx context.Context, h *hostRun, regather bool) error {
	ctx, cancel := r.hostContext(ctx)
	defer cancel()
	h.graph, h.plan = nil, &plan.HostPlan{Host: h.inv.Name}
	h.diffs, h.status, h.refreshed = nil, nil, nil
	err := r.evaluateAgain(ctx, h, regather)
	if err == nil {
		h.probe(ctx)
		err = h.plan.Error
	}
	r.explainTimeout(ctx, &err)
	h.plan.Error = err
	if err == nil {
		r.settle(h) // its own captures, for the hosts reading it
	}
	return err
}

// evaluateAgain is planAgain up to the probe: the connection, the facts
// when regather, the evaluation.
func (r *Run) evaluateAgain(ctx context.Context, h *hostRun, regather bool) error {
	if regather && h.conn != nil {
		h.conn.Close() // it died with the host
		h.conn = nil
	}
	if h.conn == nil {
		h.dials++
		conn, err := r.opts.Dial(ctx, h.inv)
		if err != nil {
			return err
		}
		h.conn = conn
	}
	if regather && r.program.UsesFacts {
		f, err := GatherFacts(ctx, h.conn)
		if err != nil {
			return err
		}
		h.factVal = f.Value()
	}
	if err := r.reevaluate(h); err != nil {
		return err
	}
	if h.graph == nil {
		return fmt.Errorf("known only after apply: %s", h.deferred)
	}
	return nil
}

// reread runs the host's late captures again after its apply (those this
// apply reached: a staged run may apply them in a later stage) and
// evaluates its outputs with them, for the hosts that read them.
func (r *Run) reread(ctx context.Context, h *hostRun) error {
	if !h.capturesLate || h.graph == nil {
		return nil
	}
	var errs []string
	late := false
	for i, n := range h.graph.Nodes {
		rd, ok := n.Impl.(resource.Reader)
		if !ok {
			continue
		}
		if _, known := h.captured[n.Addr()]; known {
			continue
		}
		if h.status == nil || h.status[i] == "" {
			late = true // a later stage applies it
			continue
		}
		res, err := h.conn.Run(ctx, "exec sh -s", strings.NewReader(n.Impl.Probe()))
		if err == nil {
			var vals map[string]cty.Value
			if vals, err = rd.Read(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode}); err == nil {
				h.captured[n.Addr()] = vals
				continue
			}
		}
		errs = append(errs, fmt.Sprintf("%s: %v", n.Addr(), err))
	}
	h.capturesLate = late
	r.settle(h)
	if len(errs) > 0 {
		return fmt.Errorf("reading after apply: %s", strings.Join(errs, "; "))
	}
	return nil
}

// planDeferred plans the batch's deferred hosts whose producers have been
// applied (their levels come first) and returns the batch without those
// still waiting (a producer in a later stage): they stay deferred, and a
// later stage may reach them. A host planned so is applied whole, whatever
// stage reaches it: its earlier stages' resources were not applied while
// it waited. A host that cannot be planned keeps the reason as its plan
// error and fails.
func (r *Run) planDeferred(ctx context.Context, idx []int, only *func(*eval.Node) bool) []int {
	var late []*hostRun
	ready := slices.DeleteFunc(slices.Clone(idx), func(i int) bool {
		h := r.hosts[i]
		if h.graph != nil || h.deferred == "" || h.plan == nil || h.plan.Error != nil {
			return false
		}
		if slices.ContainsFunc(h.deferredOn, func(on string) bool { return !r.applied[on] }) {
			return true // not yet
		}
		late = append(late, h)
		return false
	})
	if len(late) == 0 {
		return ready
	}
	p := pool.New().WithMaxGoroutines(r.opts.Parallelism)
	for _, h := range late {
		p.Go(func() {
			_ = r.planAgain(ctx, h, false) // its plan keeps the error
		})
	}
	p.Wait()
	if inner := *only; inner != nil {
		*only = func(n *eval.Node) bool {
			return inner(n) || slices.ContainsFunc(late, func(h *hostRun) bool { return h.graph != nil && slices.Contains(h.graph.Nodes, n) })
		}
	}
	return ready
}

// leftDeferred fails, at the end of an apply, the hosts still waiting for
// hosts this run did not apply: untouched, with the reason.
func (r *Run) leftDeferred(out *RolloutResult) {
	for i, h := range r.hosts {
		if h.graph != nil || h.deferred == "" || h.plan == nil || h.plan.Error != nil || out.Results[i].Err != nil {
			continue
		}
		var missing []string
		for _, on := range h.deferredOn {
			if !r.applied[on] {
				missing = append(missing, on)
			}
		}
		out.Results[i].Err = fmt.Errorf("not planned: %s; this run did not apply %s", h.deferred, strings.Join(missing, ", "))
		out.Outcomes[i] = OutcomeUntouched
	}
}

// afterApply notes the batch's applied hosts and reads their late
// captures again, for the hosts that read them.
func (r *Run) afterApply(ctx context.Context, idx []int, res []HostResult) {
	for j, i := range idx {
		h := r.hosts[i]
		if res[j].Err != nil || res[j].Failed > 0 {
			continue
		}
		if err := r.reread(ctx, h); err != nil {
			res[j].Err = err
			continue
		}
		if h.capturesLate {
			continue // its readers wait for the stage that applies its captures
		}
		if r.applied == nil {
			r.applied = map[string]bool{}
		}
		r.applied[h.inv.Name] = true
	}
}

// reevaluate evaluates a host again, with the facts it was evaluated with
// and the outputs its producers offer now, into a fresh plan: its graph,
// or none when it is (still) known only after apply.
func (r *Run) reevaluate(h *hostRun) error {
	h.graph, h.plan = nil, &plan.HostPlan{Host: h.inv.Name}
	scope, err := r.outputScope(h)
	if err != nil {
		return err
	}
	scope.Fact = h.factVal
	g, diags := r.evaluate(h, scope)
	if diags.HasErrors() {
		return fmt.Errorf("evaluating the site again (with other hosts' outputs and the host's facts now): %s", diags.Error())
	}
	h.graph = g
	return nil
}
