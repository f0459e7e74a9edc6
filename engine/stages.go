package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/inventory"
)

// Stage is one step of a staged run, resolved against the run's hosts.
type Stage struct {
	Name    string
	Hosts   []string // the run's hosts it applies, in inventory order
	Rollout Rollout

	idx  []int
	only func(*eval.Node) bool
}

// UnstagedName names the implicit first stage of a staged run: the
// resources that no stage names (the site's own, and roles in no stage).
const UnstagedName = "unstaged"

// Stages resolves the site's stages against the run's hosts, after Plan.
// nil when the site declares none. When some resources belong to no
// stage, an implicit first stage applies them on every host with def, the
// command line's rollout; a stage without a rollout block uses def too.
func (r *Run) Stages(def Rollout) []Stage {
	if len(r.Site.Stages) == 0 {
		return nil
	}
	staged := map[*config.Role]bool{}
	for _, st := range r.Site.Stages {
		for _, role := range st.Roles {
			staged[role] = true
		}
	}
	var out []Stage
	unstaged := Stage{Name: UnstagedName, Rollout: def, only: func(n *eval.Node) bool { return !staged[topRole(n)] }}
	for i, h := range r.hosts {
		if h.graph == nil || slices.ContainsFunc(h.graph.Nodes, unstaged.only) {
			unstaged.idx = append(unstaged.idx, i)
		}
	}
	if len(unstaged.idx) > 0 {
		out = append(out, unstaged)
	}
	for _, st := range r.Site.Stages {
		ro, _ := stageRollout(st, def) // checked by Load
		mine := map[*config.Role]bool{}
		for _, role := range st.Roles {
			mine[role] = true
		}
		s := Stage{Name: st.Name, Rollout: ro, only: func(n *eval.Node) bool { return mine[topRole(n)] }}
		for i, h := range r.hosts {
			if (st.Hosts == "" || r.matches(h.inv, st.Hosts)) && slices.ContainsFunc(st.Roles, func(role *config.Role) bool {
				return len(role.Targets) == 0 || slices.ContainsFunc(role.Targets, func(sel string) bool { return r.matches(h.inv, sel) })
			}) {
				s.idx = append(s.idx, i)
			}
		}
		out = append(out, s)
	}
	for k := range out {
		for _, i := range out[k].idx {
			out[k].Hosts = append(out[k].Hosts, r.hosts[i].inv.Name)
		}
	}
	return out
}

// ApplyStages applies the stages in order, each as a rollout of its own.
// A stage in which more hosts failed than its rollout tolerates halts the
// run: the later stages are not started. The result covers every host:
// failed if it failed in any stage, applied if some stage applied it.
func (r *Run) ApplyStages(ctx context.Context, stages []Stage, onStage func(Stage), onBatch func(Batch), onEvent func(Event)) RolloutResult {
	out := RolloutResult{Results: make([]HostResult, len(r.hosts)), Outcomes: make([]HostOutcome, len(r.hosts))}
	for i, h := range r.hosts {
		out.Results[i].Host = h.inv.Name
		out.Outcomes[i] = OutcomeUntouched
	}
	for _, st := range stages {
		if ctx.Err() != nil {
			out.Halted, out.Reason = true, "interrupted"
			break
		}
		if onStage != nil {
			onStage(st)
		}
		res := r.rollout(ctx, st.Rollout, st.idx, st.only, onBatch, onEvent)
		for _, i := range st.idx {
			sum, got := &out.Results[i], res.Results[i]
			sum.Changed += got.Changed
			sum.Failed += got.Failed
			sum.Skipped += got.Skipped
			if sum.Err == nil {
				sum.Err = got.Err
			}
			switch {
			case res.Outcomes[i] == OutcomeFailed:
				out.Outcomes[i] = OutcomeFailed
			case res.Outcomes[i] == OutcomeApplied && out.Outcomes[i] == OutcomeUntouched:
				out.Outcomes[i] = OutcomeApplied
			}
		}
		if res.Halted {
			out.Halted, out.Reason = true, fmt.Sprintf("stage %s: %s", st.Name, res.Reason)
			break
		}
		if res.failed > res.budget {
			out.Halted = true
			out.Reason = fmt.Sprintf("stage %s failed: %d host(s) failed, more than the %d allowed; later stages were not started", st.Name, res.failed, res.budget)
			break
		}
	}
	// A host that a later stage would have applied is untouched by a halt,
	// even if an earlier stage applied it: --resume must come back to it.
	if out.Halted {
		for _, st := range stages {
			for _, i := range st.idx {
				if out.Outcomes[i] == OutcomeApplied && !r.hosts[i].doneWith(st.only) {
					out.Outcomes[i] = OutcomeUntouched
				}
			}
		}
	} else {
		r.leftDeferred(&out)
	}
	return out
}

// doneWith reports whether every node that only accepts has an outcome.
func (h *hostRun) doneWith(only func(*eval.Node) bool) bool {
	if h.graph == nil {
		return true
	}
	for i, n := range h.graph.Nodes {
		if only(n) && (h.status == nil || h.status[i] == "") {
			return false
		}
	}
	return true
}

// topRole is the site's role a node belongs to (through included roles);
// nil for the site's own resources.
func topRole(n *eval.Node) *config.Role {
	role := n.Res.Role
	for role != nil && role.Parent != nil {
		role = role.Parent
	}
	return role
}

// matches reports whether an inventory selector selects h; without an
// inventory, a selector is a host or group name.
func (r *Run) matches(h *inventory.Host, sel string) bool {
	if f := r.selects(h); f != nil {
		return f(sel)
	}
	return sel == h.Name || slices.Contains(h.Groups, sel)
}

// stageRollout turns a stage's rollout block into a Rollout; a stage
// without one uses def.
func stageRollout(st *config.Stage, def Rollout) (Rollout, error) {
	w := st.Rollout
	if w.Batch == "" && w.MaxFailures == "" && w.Pause == "" && w.FailureDomain == "" && w.PowerCycles == 0 && len(w.Health) == 0 && w.Drain == nil {
		return def, nil
	}
	spec := RolloutSpec{Batch: w.Batch, MaxFailures: w.MaxFailures, PowerCycles: w.PowerCycles, DomainName: w.FailureDomain}
	if d := w.Drain; d != nil {
		spec.Drain = &Drain{Via: d.Via, Command: d.Command, Undo: d.Undo}
	}
	var err error
	if w.Pause != "" {
		if spec.Pause, err = time.ParseDuration(w.Pause); err != nil {
			return Rollout{}, fmt.Errorf("pause: %q is not a duration (30s, 2m)", w.Pause)
		}
	}
	for _, h := range w.Health {
		c := Health{HTTP: h.HTTP, TCP: h.TCP, Command: h.Command, Status: h.Status}
		for _, d := range []struct {
			s   string
			dst *time.Duration
		}{{h.Timeout, &c.Timeout}, {h.Interval, &c.Interval}} {
			if d.s == "" {
				continue
			}
			if *d.dst, err = time.ParseDuration(d.s); err != nil {
				return Rollout{}, fmt.Errorf("health: %q is not a duration (30s, 2m)", d.s)
			}
		}
		spec.Health = append(spec.Health, c)
	}
	return spec.Rollout(func(f string) string { return f })
}

// checkStages reports a stage's rollout settings that do not parse.
func checkStages(site *config.Site) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, st := range site.Stages {
		if _, err := stageRollout(st, Rollout{}); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid stage rollout",
				Detail:   fmt.Sprintf("Stage %s: %v.", st.Name, err),
				Subject:  st.DeclRange.Ptr(),
			})
		}
	}
	return diags
}

// DomainVar names a host's failure domain by one of its inventory
// variables ("" when the host lacks it: a domain of its own).
func DomainVar(name string) func(*inventory.Host) string {
	return func(h *inventory.Host) string {
		v, ok := h.Vars[name]
		if !ok || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			return ""
		}
		return v.AsString()
	}
}
