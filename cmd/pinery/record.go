package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/inventory"
)

// stateFlags choose the state backend (the site lock and the run history,
// docs/backends.md) and how long apply waits for the site lock.
type stateFlags struct {
	backend     string
	lockTimeout time.Duration
	label       string // --run-label

	// What apply found before planning: the open backend, the site, and
	// the site lock's generation then (to tell whether another run applied
	// the site while this one planned).
	db      backend.Backend
	site    backend.Site
	seenGen int64
	seen    bool

	// pull, for pinery pull, records the run as the board's report, without
	// the site lock (boards apply independently).
	pull *pullReport
}

func addBackendFlag(cmd *cobra.Command, g *globals) {
	cmd.Flags().StringVar(&g.state.backend, "backend", "", "where the site lock and run history live: a postgres:// URL (default $PINERY_BACKEND, else SITE/.pinery/state.db)")
}

func addRunLabelFlag(cmd *cobra.Command, g *globals) {
	cmd.Flags().StringVar(&g.state.label, "run-label", "", "record the run with this label, which groups the shards of one CI run for history --label (default $PINERY_RUN_LABEL, else $GITHUB_RUN_ID)")
}

// runLabel is --run-label, else $PINERY_RUN_LABEL, else GitHub Actions'
// run ID (the same for every job of a matrix, and for a re-run).
func (g *globals) runLabel() string {
	for _, l := range []string{g.state.label, os.Getenv("PINERY_RUN_LABEL"), os.Getenv("GITHUB_RUN_ID")} {
		if l != "" {
			return l
		}
	}
	return ""
}

// lockShard is the scope of the site lock that apply takes: "I/N" of
// --shard, or "" (the whole site) without one. --shard was checked when
// the hosts were selected.
func (g *globals) lockShard() string {
	s, err := inventory.ParseShard(g.shard)
	if err != nil || s.N <= 1 {
		return ""
	}
	return s.String()
}

// backendSpec is --backend, else $PINERY_BACKEND ("": the site's SQLite file).
func (g *globals) backendSpec() string {
	if g.state.backend != "" {
		return g.state.backend
	}
	return os.Getenv("PINERY_BACKEND")
}

// openState opens the site's backend and identifies the site. Without
// create, a site with no state yet is backend.ErrNoState.
func (g *globals) openState(ctx context.Context, siteDir string, create bool) (backend.Backend, backend.Site, error) {
	site, err := backend.SiteOf(ctx, siteDir)
	if err != nil {
		return nil, site, err
	}
	if site.Warning != "" {
		fmt.Fprintf(g.stderr, "Warning: %s.\n", site.Warning)
	}
	b, err := backend.Open(ctx, g.backendSpec(), siteDir, create)
	return b, site, err
}

// checkSiteLock runs before apply plans: a site locked by another run is
// refused at once (or, with --lock-timeout, waited for), before any host
// is read, and the lock's generation is noted.
func (g *globals) checkSiteLock(ctx context.Context) error {
	b, site, err := g.openState(ctx, g.site, true)
	if err != nil {
		return err
	}
	g.state.db, g.state.site = b, site
	deadline := time.Now().Add(g.state.lockTimeout)
	for delay := 200 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		gen, h, err := b.LockState(ctx, site.ID, g.lockShard())
		if err != nil {
			return err
		}
		if h == nil {
			g.state.seenGen, g.state.seen = gen, true
			return nil
		}
		if time.Now().Add(delay).After(deadline) {
			return g.lockedError(&backend.LockedError{Holder: h})
		}
		if delay == 200*time.Millisecond {
			g.waiting(h)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the site lock: %w", ctx.Err())
		case <-time.After(delay):
		}
	}
}

func (g *globals) waiting(h *backend.Holder) {
	who := "an unknown run"
	if h != nil {
		who = h.String()
	}
	fmt.Fprintf(g.stderr, "Waiting up to %s for the site lock, held by %s.\n", g.state.lockTimeout, who)
}

func (g *globals) lockedError(err error) error {
	fmt.Fprintf(g.stderr, "Error: %v; wait for it (--lock-timeout), or break it with `pinery unlock --site` if that run is dead.\n", err)
	return exitError{exitNotApplied}
}

func (g *globals) closeState() {
	if g.state.db != nil {
		g.state.db.Close()
		g.state.db = nil
	}
}

// runRecord is an apply in progress: it holds the site lock and collects
// what each host does for the history.
type runRecord struct {
	mu      sync.Mutex // events, finish and a second signal's abort
	ended   bool
	db      backend.Backend
	lock    *backend.Lock
	id      int64
	changes map[string][]backend.Resource // by host
}

// beginRun takes the site lock and records the run's start, unless the
// plan changes nothing (nothing is locked or recorded then).
func (g *globals) beginRun(ctx context.Context, r *engine.Run, p *plan.Plan) (*runRecord, error) {
	if !p.HasChanges() {
		return nil, nil
	}
	if g.state.pull != nil {
		return g.state.pull.begin(ctx, g, p), nil
	}
	if g.state.db == nil { // a saved plan: not checked before planning
		b, site, err := g.openState(ctx, g.site, true)
		if err != nil {
			return nil, err
		}
		g.state.db, g.state.site = b, site
	}
	b, site := g.state.db, g.state.site
	sensitive := map[string]bool{}
	for _, v := range r.Site.Variables {
		sensitive[v.Name] = v.Sensitive
	}
	me := backend.CurrentHolder(commandLine(os.Args[1:], sensitive))
	me.Shard = g.lockShard()
	lock, err := backend.WaitLock(ctx, b, site.ID, me, g.state.lockTimeout, g.waiting)
	if errors.Is(err, backend.ErrLocked) {
		return nil, g.lockedError(err)
	}
	if err != nil {
		return nil, err
	}
	rec := &runRecord{db: b, lock: lock, changes: map[string][]backend.Resource{}}
	if err := g.checkNoneApplied(ctx, rec, p); err != nil {
		rec.release(ctx, g)
		return nil, err
	}
	run := backend.Run{Site: site.ID, User: me.User, Machine: me.Machine, Version: version, Commit: site.Commit, Dirty: site.Dirty,
		Command: me.Command, Shard: me.Shard, Label: g.runLabel(), LockGen: lock.Gen, Started: time.Now()}
	for _, h := range p.Hosts {
		run.Hosts = append(run.Hosts, backend.Host{Host: h.Host})
	}
	if rec.id, err = b.RecordRun(ctx, run); err != nil {
		rec.release(ctx, g)
		return nil, err
	}
	return rec, nil
}

// checkNoneApplied refuses a plan made stale by another run: one that held
// the site lock after this plan began (it waited, or raced) and changed a
// host this plan changes. Such a plan read hosts that have changed since.
func (g *globals) checkNoneApplied(ctx context.Context, rec *runRecord, p *plan.Plan) error {
	if !g.state.seen || rec.lock.Gen == g.state.seenGen+1 {
		return nil
	}
	mine := map[string]bool{}
	for _, h := range p.Hosts {
		mine[h.Host] = h.Counts().Changed() > 0
	}
	runs, err := rec.db.Runs(ctx, g.state.site.ID, int(rec.lock.Gen-g.state.seenGen)+10)
	if err != nil {
		return err
	}
	for _, run := range runs {
		if run.LockGen <= g.state.seenGen || run.LockGen >= rec.lock.Gen {
			continue
		}
		var both []string
		for _, h := range run.Hosts {
			if mine[h.Host] && (h.Changed > 0 || h.Failed > 0 || run.Outcome == backend.Unfinished) {
				both = append(both, h.Host)
			}
		}
		if len(both) > 0 {
			fmt.Fprintf(g.stderr, "Error: while this plan was made, run %d (%s@%s) applied the site and changed %s: this plan may be stale; plan again.\n",
				run.ID, run.User, run.Machine, strings.Join(both, ", "))
			return exitError{exitNotApplied}
		}
	}
	return nil
}

// event notes a resource's outcome (called in apply's event order).
func (rec *runRecord) event(e engine.Event) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	res := backend.Resource{Address: e.Addr, Action: e.Action.String(), Status: string(e.Status), Note: e.Note}
	if e.Err != nil {
		res.Error = e.Err.Error() // the text apply prints: no sensitive value
	}
	rec.changes[e.Host] = append(rec.changes[e.Host], res)
}

// finish records how the run ended and frees the site lock; a failure to
// record is reported, not fatal (the hosts are applied already).
func (rec *runRecord) finish(ctx context.Context, g *globals, out engine.RolloutResult, code int) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.ended {
		return
	}
	rec.ended = true
	defer rec.release(ctx, g)
	outcome := map[int]backend.Outcome{0: backend.Converged, exitFailed: backend.Failed, exitNotApplied: backend.NotApplied, exitHalted: backend.Halted}[code]
	if ctx.Err() != nil {
		outcome = backend.Interrupted
	}
	hosts := make([]backend.Host, len(out.Results))
	for i, res := range out.Results {
		h := backend.Host{Host: res.Host, Changed: res.Changed, Failed: res.Failed, Skipped: res.Skipped, Changes: rec.changes[res.Host], Outcome: backend.Converged}
		switch {
		case out.Outcomes[i] == engine.OutcomeUntouched:
			h.Outcome = backend.Untouched
		case res.Err != nil:
			h.Outcome, h.Error = backend.NotApplied, res.Err.Error()
		case ctx.Err() != nil && (res.Failed > 0 || slices.ContainsFunc(h.Changes, func(r backend.Resource) bool { return r.Note == "interrupted" })):
			h.Outcome = backend.Interrupted // cut short, not broken
		case res.Failed > 0:
			h.Outcome = backend.Failed
		}
		hosts[i] = h
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := rec.db.FinishRun(fctx, rec.id, outcome, hosts); err != nil {
		fmt.Fprintf(g.stderr, "Warning: %v.\n", err)
	}
}

func (rec *runRecord) release(ctx context.Context, g *globals) {
	if rec.lock == nil { // a pull's report: no site lock
		return
	}
	if err := rec.lock.Release(ctx); err != nil {
		fmt.Fprintf(g.stderr, "Warning: %v.\n", err)
	}
}

// commandLine is the command as typed, for the history and the lock's
// holder, with the values of sensitive --var flags and any password in a
// --backend URL left out.
func commandLine(args []string, sensitive map[string]bool) string {
	out := []string{"pinery"}
	for i := 0; i < len(args); i++ {
		flag, val, inline := strings.Cut(args[i], "=")
		if flag != "--var" && flag != "--backend" || !inline && i+1 == len(args) {
			out = append(out, shellescape.Quote(args[i]))
			continue
		}
		if !inline {
			i++
			val = args[i]
		}
		if flag == "--backend" {
			val = backend.Redact(val)
		} else if name, _, ok := strings.Cut(val, "="); ok && sensitive[name] {
			val = name + "=(sensitive)"
		}
		out = append(out, flag+"="+shellescape.Quote(val))
	}
	return strings.Join(out, " ")
}
