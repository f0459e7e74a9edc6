package engine

import (
	"strings"

	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/resource"
)

// planRequisites adjusts a host's plan for requisites, once every resource
// has its own diff: watch and owed refreshes, onchanges and prereq (which
// may cancel a resource's own change) and onfail (which makes it
// conditional). The plan says why in each resource's reasons.
func (h *hostRun) planRequisites(index map[*eval.Node]int) {
	nodes := h.graph.Nodes
	rps := h.plan.Resources
	changes := func(n *eval.Node) bool {
		rp := rps[index[n]]
		return rp.Error == nil && rp.Action != resource.NoOp && rp.Conditional == ""
	}
	which := func(ns []*eval.Node, pred func(*eval.Node) bool) []string {
		var out []string
		for _, n := range ns {
			if pred == nil || pred(n) {
				out = append(out, n.Addr())
			}
		}
		return out
	}
	owed := map[string]bool{}
	for _, a := range h.owed {
		owed[a] = true
	}
	h.pending = make([]bool, len(nodes))
	for i, n := range nodes {
		rp := rps[i]
		if rp.Error != nil {
			continue
		}
		if len(n.OnChanges) > 0 {
			if names := which(n.OnChanges, changes); len(names) > 0 {
				rp.Reasons = append(rp.Reasons, "onchanges: "+strings.Join(names, ", ")+" changes")
			} else {
				h.cancel(i)
			}
		}
		if _, ok := n.Impl.(resource.Refresher); ok {
			for _, w := range which(n.Watch, changes) {
				rp.Reasons = append(rp.Reasons, "watches "+w+", which changes")
				h.pending[i] = true
			}
			if owed[n.Addr()] {
				rp.Reasons = append(rp.Reasons, "owed: an earlier run changed what it watches and failed before refreshing it")
				h.pending[i] = true
			}
			if h.pending[i] && rp.Action == resource.NoOp {
				rp.Action = resource.Run
			}
		}
		if len(n.OnFail) > 0 && rp.Action != resource.NoOp {
			rp.Conditional = "only if " + strings.Join(which(n.OnFail, nil), " or ") + " fails"
		}
	}
	// Backwards, so that a prereq of a prereq sees the final plan of the
	// resource it comes before.
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if len(n.PrereqOf) == 0 || rps[i].Error != nil {
			continue
		}
		if names := which(n.PrereqOf, changes); len(names) > 0 {
			rps[i].Reasons = append(rps[i].Reasons, "prereq of "+strings.Join(names, ", ")+", which changes")
		} else {
			h.cancel(i)
		}
	}
}

// cancel drops a resource's own change from the plan (a requisite says
// not to apply it in this run).
func (h *hostRun) cancel(i int) {
	h.diffs[i] = &resource.Diff{}
	rp := h.plan.Resources[i]
	rp.Action, rp.Changes, rp.Diff = resource.NoOp, nil, ""
}

// gate reports whether node i may be applied now, given how its requisites
// ended in this run: onfail needs one of them failed, onchanges one changed.
func gate(n *eval.Node, status func(*eval.Node) Status) bool {
	if len(n.OnFail) > 0 {
		failed := false
		for _, f := range n.OnFail {
			failed = failed || status(f) == StatusFailed
		}
		if !failed {
			return false
		}
	}
	if len(n.OnChanges) > 0 {
		changed := false
		for _, c := range n.OnChanges {
			changed = changed || status(c) == StatusChanged
		}
		if !changed {
			return false
		}
	}
	return true
}

func contains(ns []*eval.Node, n *eval.Node) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}
