package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/plan"
)

func newApplyCmd(g *globals) *cobra.Command {
	var autoApprove bool
	cmd := &cobra.Command{
		Use:   "apply [SITE | PLANFILE]",
		Short: "Plan, confirm, and change each host to match the site",
		Long: `apply computes the plan exactly as "pinery plan" does, shows it, asks for
confirmation (unless --auto-approve), then applies it: hosts in parallel,
resources of a host in dependency order. A failed resource skips the resources
that depend on it; the other hosts go on. If the configuration has an error,
no host is changed.

Given a file saved by "pinery plan --out", apply applies exactly that plan,
without asking: it reads each host again and refuses a host whose state
drifted since the plan, or whose plan would now differ; a saved plan is
applied once.`,
		Example: `  pinery apply -i inventory.hcl site/
  pinery apply -i inventory.hcl -l sopine01 --auto-approve site/
  pinery plan -i inventory.hcl --out release.plan site/ && pinery apply release.plan
  pinery apply -i inventory.hcl --batch 1 --health 'http:http://{address}:8008/health' \
    --drain-via front --drain 'pinery-front drain {address}' --undrain 'pinery-front undrain {address}' site/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
					return g.applySaved(cmd, args[0])
				}
			}
			g.site = siteArg(args)
			if g.rollout.resume {
				if err := g.resumeLimit(); err != nil {
					return err
				}
			}
			r, ok := g.prepare(args)
			if !ok {
				return exitError{1}
			}
			defer r.Close()
			defer g.printStats(r)
			ctx, stop := signalContext()
			defer stop()
			if err := g.checkSiteLock(ctx); err != nil {
				return err
			}
			defer g.closeState()
			start := time.Now()
			p, diags := r.Plan(ctx)
			if err := g.interruptedBeforeApply(ctx); err != nil {
				return err
			}
			if g.writeDiags(diags, r.Site.Parser) {
				return exitError{1}
			}
			if g.jsonEvents && !autoApprove {
				return fmt.Errorf("--json needs --auto-approve (a JSON stream cannot be confirmed)")
			}
			if err := g.writePlan(p); err != nil {
				return err
			}
			if !g.jsonEvents && p.HasChanges() {
				g.writeStages(r)
			}
			if !p.HasChanges() {
				if g.jsonEvents {
					g.emitSummary(nil, 0, time.Since(start))
				} else if p.HasErrors() {
					fmt.Fprintln(g.stdout, "\nNothing to apply on the hosts that were planned; see the errors above.")
				} else {
					fmt.Fprintln(g.stdout, "\nNo changes. Every host is converged.")
				}
				if p.HasErrors() {
					return exitError{exitNotApplied}
				}
				return nil
			}
			if !autoApprove {
				ok, err := g.confirm()
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(g.stdout, "Apply cancelled.")
					return exitError{1}
				}
			}
			return g.runApply(ctx, r, p, start)
		},
	}
	addRunFlags(cmd, g)
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking for confirmation")
	addRolloutFlags(cmd, g)
	cmd.Flags().BoolVar(&g.jsonEvents, "json", false, "write the plan and the apply as a stream of JSON lines (see docs/json.md); needs --auto-approve or a saved plan")
	addBackendFlag(cmd, g)
	addRunLabelFlag(cmd, g)
	cmd.Flags().DurationVar(&g.state.lockTimeout, "lock-timeout", 0, "wait this long for the site lock held by another apply (default: fail at once, naming its holder)")
	return cmd
}

// runApply applies a plan, prints each event and the summary, and turns
// the outcome into the exit code. A plan that changes something is applied
// under the site lock and recorded in the run history.
func (g *globals) runApply(ctx context.Context, r *engine.Run, p *plan.Plan, start time.Time) error {
	st := g.style()
	if !g.jsonEvents {
		fmt.Fprintln(g.stdout)
	}
	ro, err := g.rolloutSpec()
	if err != nil {
		return err
	}
	defer g.closeState()
	rec, err := g.beginRun(ctx, r, p)
	if err != nil {
		return err
	}
	onAbort(ctx, func(settleBy time.Time) { g.abort(rec, hostsOf(p), settleBy) })
	// This rollout (or this stage's) goes in batches; hosts ordered by the
	// outputs they read go in one batch per level.
	ordered := r.HostOrder() != nil
	batched := ro.Batch.N > 0 || ordered
	onBatch := func(b engine.Batch) {
		if g.jsonEvents {
			_ = g.emit(map[string]any{"type": "batch", "number": b.Number, "hosts": b.Hosts, "domain": b.Domain})
			return
		}
		if batched {
			dom := ""
			if b.Domain != "" {
				dom = " (" + g.rollout.domain + " " + b.Domain + ")"
			}
			g.println(fmt.Sprintf("Batch %d: %s%s", b.Number, strings.Join(b.Hosts, ", "), dom))
		}
		g.live.batch(b)
	}
	onEvent := func(e engine.Event) {
		e = g.tally.event(ctx, e)
		rec.event(e)
		if g.jsonEvents {
			g.emitEvent(e)
			return
		}
		g.live.event(e)
		line := fmt.Sprintf("%s: %s %s", e.Host, e.Addr, e.Status)
		if e.Note != "" {
			line += ": " + e.Note
		}
		if e.Err != nil {
			line += ": " + e.Err.Error()
			line = paint(st.Remove, line)
		}
		g.println(line)
	}
	g.live = g.startLive(p, start)
	ro.OnPower = func(host, step string) {
		if g.jsonEvents {
			_ = g.emit(map[string]any{"type": "power", "host": host, "step": step})
			return
		}
		g.println(host + ": " + step)
	}
	ro.OnHealth = func(host, line string) {
		if g.jsonEvents {
			_ = g.emit(map[string]any{"type": "health", "host": host, "result": line})
			return
		}
		g.println(host + ": " + line)
	}
	ro.OnDrain = func(host, line string) {
		if g.jsonEvents {
			_ = g.emit(map[string]any{"type": "drain", "host": host, "step": line})
			return
		}
		g.println(host + ": " + line)
	}
	var out engine.RolloutResult
	if stages := r.Stages(ro); stages != nil {
		for i := range stages {
			stages[i].Rollout.OnPower, stages[i].Rollout.OnHealth, stages[i].Rollout.OnDrain = ro.OnPower, ro.OnHealth, ro.OnDrain
		}
		out = r.ApplyStages(ctx, stages, func(s engine.Stage) {
			batched = s.Rollout.Batch.N > 0 || ordered
			if g.jsonEvents {
				_ = g.emit(map[string]any{"type": "stage", "name": s.Name, "hosts": s.Hosts})
				return
			}
			g.println(fmt.Sprintf("Stage %s: %s", s.Name, strings.Join(s.Hosts, ", ")))
		}, onBatch, onEvent)
	} else {
		out = r.ApplyRollout(ctx, ro, onBatch, onEvent)
	}
	g.live.close()
	g.live = nil
	results := out.Results
	failed, notApplied := 0, 0
	var changed int
	for i, res := range results {
		changed += res.Changed
		switch {
		case out.Outcomes[i] == engine.OutcomeUntouched:
			if res.Err != nil { // held back: it reads outputs of a host not applied
				notApplied++
			}
		case res.Err != nil:
			notApplied++
			failed++
		case res.Failed > 0:
			failed++
		}
	}
	code := 0
	switch {
	case out.Halted:
		code = exitHalted
	case notApplied > 0 || planErrorsLeft(p, out):
		code = exitNotApplied
	case failed > 0:
		code = exitFailed
	}
	in, stopped := interruptOf(ctx)
	if stopped {
		code = in.exitCode()
		if out.Halted {
			out.Reason = "interrupted" // not the failures it caused
		}
	}
	err = g.saveRolloutState(out) // still under the site lock
	rec.finish(ctx, g, out, code)
	if err != nil {
		return err
	}
	if g.jsonEvents {
		g.emitSummary(results, changed, time.Since(start))
		if out.Halted {
			_ = g.emit(map[string]any{"type": "halted", "reason": out.Reason, "untouched": hostsWith(out, engine.OutcomeUntouched)})
		}
		return exitIf(code)
	}
	if stopped {
		g.printInterrupted(in, out, changed, time.Since(start))
	} else {
		g.printApplied(out, changed, failed, start)
	}
	if out.Halted {
		fmt.Fprintf(g.stdout, "Rollout halted: %s.\n  applied:   %s\n  failed:    %s\n  untouched: %s\nAfter fixing what failed, continue with the untouched hosts: pinery apply --resume (same flags).\n",
			out.Reason, list(hostsWith(out, engine.OutcomeApplied)), list(hostsWith(out, engine.OutcomeFailed)), list(hostsWith(out, engine.OutcomeUntouched)))
	}
	switch {
	case rec == nil:
	case g.state.pull != nil:
		// A pulled site lives in a temporary directory: the run is seen
		// from the controller, with pinery status or history there.
		fmt.Fprintf(g.stdout, "Reported as run %d to the backend (pinery status).\n", rec.id)
	default:
		site := ""
		if g.site != "." {
			site = " " + g.site
		}
		fmt.Fprintf(g.stdout, "Recorded as run %d: pinery history show %d%s\n", rec.id, rec.id, site)
	}
	return exitIf(code)
}

// printApplied is apply's summary: what changed, and each host that failed.
func (g *globals) printApplied(out engine.RolloutResult, changed, failed int, start time.Time) {
	fmt.Fprintf(g.stdout, "\nApply: %s changed on %s, %s failed (%.1fs).\n",
		plural(changed, "resource", "resources"), plural(len(out.Results)-len(hostsWith(out, engine.OutcomeUntouched)), "host", "hosts"),
		plural(failed, "host", "hosts"), time.Since(start).Seconds())
	for i, res := range out.Results {
		switch {
		case out.Outcomes[i] == engine.OutcomeUntouched && res.Err == nil:
		case res.Err != nil:
			fmt.Fprintf(g.stdout, "  %s: not applied: %v\n", res.Host, res.Err)
		case res.Failed > 0:
			fmt.Fprintf(g.stdout, "  %s: %d failed, %d skipped\n", res.Host, res.Failed, res.Skipped)
		}
	}
}

func paint(f func(string) string, s string) string {
	if f == nil {
		return s
	}
	return f(s)
}

// confirm reads the answer from standard input (a terminal or a pipe). With
// nothing to read (CI with no input) it fails and names --auto-approve.
func (g *globals) confirm() (bool, error) {
	fmt.Fprint(g.stdout, "\nApply these changes? Only 'yes' is accepted: ")
	ok, err := g.readYes()
	if err != nil {
		return false, fmt.Errorf("%v: review the plan and run again with --auto-approve to apply without asking", err)
	}
	return ok, nil
}

// readYes reads one answer from standard input: true only for "yes".
func (g *globals) readYes() (bool, error) {
	line, err := bufio.NewReader(g.stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(g.stdout)
		return false, fmt.Errorf("no answer on standard input")
	}
	return strings.TrimSpace(line) == "yes", nil
}

// planErrorsLeft reports whether the plan's errors still stand after the
// apply: a host that could not be planned but was applied after all (a
// rollout power-cycled it and planned it again) no longer counts.
func planErrorsLeft(p *plan.Plan, out engine.RolloutResult) bool {
	for i, hp := range p.Hosts {
		if hp == nil || i >= len(out.Outcomes) {
			continue
		}
		if hp.Error != nil && out.Outcomes[i] == engine.OutcomeApplied {
			continue
		}
		c := (&plan.Plan{Hosts: []*plan.HostPlan{hp}}).Counts()
		if c.Errors > 0 {
			return true
		}
	}
	return false
}
