package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/inventory"
)

// Rollout says how apply goes through the hosts: in batches, stopping when
// too many hosts failed, never more than one failure domain at a time.
// The zero value applies every host at once and never stops early.
type Rollout struct {
	Batch       Amount // hosts per batch; zero: all at once
	MaxFailures Amount // failed hosts tolerated before halting (unreachable ones count)
	// Domain names the failure domain of a host (the clusterboard or power
	// supply it sits on); a batch holds hosts of one domain only. nil: one
	// domain.
	Domain func(*inventory.Host) string
	// DomainName, when Domain is nil, names the failure domain by a host
	// variable of that name, else the host's fact of that name.
	DomainName string
	Pause      time.Duration // between batches
	// PowerCycles is how many times a host that stopped answering may be
	// power-cycled out of band (its inventory power block) and retried.
	PowerCycles int
	// OnPower is told each step of such a recovery (nil: not told).
	OnPower func(host, step string)
	// Health lists checks every host of a batch must pass once applied
	// before the next batch starts; a host that does not is failed.
	Health []Health
	// OnHealth is told each check's outcome (nil: not told).
	OnHealth func(host, line string)
	// Drain, when set, takes each host out of service elsewhere (a front
	// proxy's upstream) while it is applied; OnDrain is told each step.
	Drain   *Drain
	OnDrain func(host, line string)
}

// RolloutSpec is a rollout as written, by apply's flags or a stage's
// rollout block: one checker for both.
type RolloutSpec struct {
	Batch, MaxFailures string // amounts: "2", "25%"; "" is none
	Pause              time.Duration
	PowerCycles        int
	DomainName         string
	Health             []Health
	Drain              *Drain
}

// Rollout checks the settings; field names a setting as the user wrote it
// ("batch" in a stage, "--batch" on the command line) for errors.
func (s RolloutSpec) Rollout(field func(string) string) (Rollout, error) {
	ro := Rollout{Pause: s.Pause, PowerCycles: s.PowerCycles, DomainName: s.DomainName, Drain: s.Drain}
	if d := s.Drain; d != nil && (strings.TrimSpace(d.Command) == "" || strings.TrimSpace(d.Undo) == "") {
		return ro, fmt.Errorf("%s: a drain needs both its command and its undo command (a host drained and never put back would stay out of service)", field("drain"))
	}
	var err error
	if s.Batch != "" {
		if ro.Batch, err = ParseAmount(s.Batch); err != nil || ro.Batch.N == 0 {
			return ro, fmt.Errorf("%s: %q is not a positive number of hosts or a percentage (2, 25%%)", field("batch"), s.Batch)
		}
	}
	if s.MaxFailures != "" {
		if ro.MaxFailures, err = ParseAmount(s.MaxFailures); err != nil {
			return ro, fmt.Errorf("%s: %v", field("max_failures"), err)
		}
	}
	if s.Pause < 0 {
		return ro, fmt.Errorf("%s: %s is not a duration to wait", field("pause"), s.Pause)
	}
	if s.PowerCycles < 0 {
		return ro, fmt.Errorf("%s: %d is not a number of times (0, 1, 2)", field("power_cycle"), s.PowerCycles)
	}
	for _, c := range s.Health {
		if err := c.Validate(); err != nil {
			return ro, fmt.Errorf("%s: %v", field("health"), err)
		}
		ro.Health = append(ro.Health, c)
	}
	return ro, nil
}

// Amount is a number of hosts or a percentage of them.
type Amount struct {
	N       int
	Percent bool
}

// ParseAmount reads "3" or "25%".
func ParseAmount(s string) (Amount, error) {
	p := strings.HasSuffix(s, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil || n < 0 || (p && n > 100) {
		return Amount{}, fmt.Errorf("%q is not a number of hosts or a percentage (3, 25%%)", s)
	}
	return Amount{N: n, Percent: p}, nil
}

// Of resolves the amount against a number of hosts (a percentage rounds
// up, so 25% of 6 hosts is 2).
func (a Amount) Of(total int) int {
	if !a.Percent {
		return a.N
	}
	return (a.N*total + 99) / 100
}

// HostOutcome is where a host stands after a rollout.
type HostOutcome string

const (
	OutcomeApplied   HostOutcome = "applied"
	OutcomeFailed    HostOutcome = "failed"
	OutcomeUntouched HostOutcome = "untouched" // the rollout halted before it
)

// RolloutResult is the outcome of every host, in host order.
type RolloutResult struct {
	Results  []HostResult
	Outcomes []HostOutcome
	Halted   bool
	Reason   string // why it halted

	failed, budget int // failed hosts, and how many were tolerated
}

// Batch reports a batch about to start: its number, its hosts, its domain.
type Batch struct {
	Number int
	Hosts  []string
	Domain string
}

// ApplyRollout applies the plan batch by batch. Hosts that could not be
// planned count as failed from the start.
func (r *Run) ApplyRollout(ctx context.Context, ro Rollout, onBatch func(Batch), onEvent func(Event)) RolloutResult {
	all := make([]int, len(r.hosts))
	for i := range all {
		all[i] = i
	}
	out := r.rollout(ctx, ro, all, nil, onBatch, onEvent)
	r.leftDeferred(&out)
	return out
}

// rollout applies the hosts idx (of the nodes only accepts) batch by
// batch; the result covers every host of the run, those outside idx
// untouched.
func (r *Run) rollout(ctx context.Context, ro Rollout, idx []int, only func(*eval.Node) bool, onBatch func(Batch), onEvent func(Event)) RolloutResult {
	out := RolloutResult{Results: make([]HostResult, len(r.hosts)), Outcomes: make([]HostOutcome, len(r.hosts))}
	for i, h := range r.hosts {
		out.Results[i].Host = h.inv.Name
		out.Outcomes[i] = OutcomeUntouched
	}
	// Recoveries run beside each other: their reports must not interleave.
	var mu sync.Mutex
	if onEvent != nil {
		inner := onEvent
		onEvent = func(e Event) { mu.Lock(); defer mu.Unlock(); inner(e) }
	}
	serial := func(f func(host, line string)) func(host, line string) {
		if f == nil {
			return nil
		}
		return func(host, line string) { mu.Lock(); defer mu.Unlock(); f(host, line) }
	}
	ro.OnPower, ro.OnHealth, ro.OnDrain = serial(ro.OnPower), serial(ro.OnHealth), serial(ro.OnDrain)
	n := len(idx)
	failed := 0
	var ready []int
	for _, i := range idx {
		h := r.hosts[i]
		deferred := h.plan != nil && h.plan.Error == nil && h.graph == nil && h.deferred != ""
		if (h.plan == nil || h.plan.Error != nil || h.diffs == nil) && !deferred && !(h.plan != nil && stoppedAnswering(h.plan.Error) && r.canRecover(ro, i)) {
			if h.plan != nil {
				out.Results[i].Err = h.plan.Error
			}
			out.Outcomes[i] = OutcomeFailed
			failed++
			continue
		}
		ready = append(ready, i)
	}
	budget := ro.MaxFailures.Of(n)
	size := ro.Batch.Of(n)
	batched := size > 0 // one batch of everything has nothing to halt
	if !batched {
		size = len(ready)
	}
	domain := ro.Domain
	if domain == nil && ro.DomainName != "" {
		domain = r.domainOf(ro.DomainName)
	}
	// Hosts that read other hosts' outputs go after them, level by level.
	var batches []batch
	for _, lv := range r.byLevel(ready) {
		n := size
		if !batched {
			n = len(lv)
		}
		batches = append(batches, makeBatches(r, lv, n, domain)...)
	}
	for k, b := range batches {
		if batched && failed > budget {
			out.Halted = true
			out.Reason = fmt.Sprintf("%d host(s) failed, more than the %d allowed", failed, budget)
			break
		}
		if ctx.Err() != nil {
			out.Halted, out.Reason = true, "interrupted"
			break
		}
		if k > 0 && ro.Pause > 0 {
			select {
			case <-time.After(ro.Pause):
			case <-ctx.Done():
			}
		}
		if b.hosts = r.holdBack(b.hosts, &out); len(b.hosts) == 0 {
			continue
		}
		if b.hosts = r.planDeferred(ctx, b.hosts, &only); len(b.hosts) == 0 {
			continue
		}
		if onBatch != nil {
			names := make([]string, len(b.hosts))
			for j, i := range b.hosts {
				names[j] = r.hosts[i].inv.Name
			}
			onBatch(Batch{Number: k + 1, Hosts: names, Domain: b.domain})
		}
		b.hosts = r.drainBatch(ctx, ro, b.hosts, only, &out, &failed)
		res := r.applyHosts(ctx, b.hosts, only, onEvent)
		var wg sync.WaitGroup
		for j, i := range b.hosts {
			if stoppedAnswering(res[j].Err) && r.canRecover(ro, i) {
				wg.Go(func() { res[j] = r.recover(ctx, ro, i, res[j], only, onEvent) })
			}
		}
		wg.Wait()
		r.healthGate(ctx, ro, b.hosts, res)
		r.afterApply(ctx, b.hosts, res)
		r.undrainBatch(ctx, ro, b.hosts, res)
		for j, i := range b.hosts {
			out.Results[i] = res[j]
			if res[j].Err != nil || res[j].Failed > 0 {
				out.Outcomes[i] = OutcomeFailed
				r.markFailed(i)
				failed++
			} else {
				out.Outcomes[i] = OutcomeApplied
			}
		}
	}
	out.failed, out.budget = failed, budget
	return out
}

type batch struct {
	hosts  []int
	domain string
}

// makeBatches cuts the hosts into batches of size, domain by domain, in
// the order each domain first appears.
func makeBatches(r *Run, idx []int, size int, domain func(*inventory.Host) string) []batch {
	var order []string
	byDomain := map[string][]int{}
	for _, i := range idx {
		d := ""
		if domain != nil {
			d = domain(r.hosts[i].inv)
		}
		if _, ok := byDomain[d]; !ok {
			order = append(order, d)
		}
		byDomain[d] = append(byDomain[d], i)
	}
	var out []batch
	for _, d := range order {
		hs := byDomain[d]
		for len(hs) > 0 {
			k := min(size, len(hs))
			out = append(out, batch{hosts: hs[:k], domain: d})
			hs = hs[k:]
		}
	}
	return out
}

// domainOf names a host's failure domain by its variable name, else by its
// fact name (gathered in this run, else cached); "" when it has neither.
func (r *Run) domainOf(name string) func(*inventory.Host) string {
	byVar := DomainVar(name)
	facts := map[string]inventory.Facts{}
	for _, h := range r.hosts {
		switch {
		case h.gathered != nil:
			facts[h.inv.Name] = h.gathered
		case h.cachedFacts != nil:
			facts[h.inv.Name] = h.cachedFacts
		}
	}
	return func(h *inventory.Host) string {
		if d := byVar(h); d != "" {
			return d
		}
		return facts[h.Name][name]
	}
}
