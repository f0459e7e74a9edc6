package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/engine/plan"
)

// Interrupts (docs/cli.md#interrupts). The first SIGINT or SIGTERM cancels
// the run's context: no host or resource starts after it, the commands in
// flight are ended on their hosts (with their process group, by the
// transport), host and site locks are released, an apply is recorded as
// interrupted, and the exit code is 128 + the signal's number. A second
// SIGINT (a person at the terminal) aborts: it waits only briefly for the
// ended commands to report, records the run and frees the site lock within
// a short bound, and exits. SIGTERM comes from supervisors (CI, systemd,
// timeout(1), which sends it twice: to the process and to its group); it
// never aborts, they escalate with SIGKILL themselves.

// interrupted is the cause of a context ended by a signal.
type interrupted struct{ sig syscall.Signal }

func (e interrupted) Error() string { return "interrupted by " + sigName(e.sig) }

func sigName(s syscall.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

// exitCode is the shell's convention for a process ended by sig.
func (e interrupted) exitCode() int { return 128 + int(e.sig) }

// interruptOf tells whether ctx was ended by a signal, and by which.
func interruptOf(ctx context.Context) (interrupted, bool) {
	var in interrupted
	return in, errors.As(context.Cause(ctx), &in)
}

// abortKey holds, in a signal context, the *aborter a second signal runs.
type abortKey struct{}

// aborter is what a second signal does before the process exits: set by
// apply once it holds the site lock. settleBy is how long commands ended by
// the first signal may take to report.
type aborter struct {
	mu sync.Mutex
	fn func(settleBy time.Time)
}

func (a *aborter) set(fn func(time.Time)) {
	a.mu.Lock()
	a.fn = fn
	a.mu.Unlock()
}

// onAbort sets what a second signal does before exiting (ctx from
// signalContext; elsewhere it does nothing).
func onAbort(ctx context.Context, fn func(settleBy time.Time)) {
	if a, ok := ctx.Value(abortKey{}).(*aborter); ok {
		a.set(fn)
	}
}

// abortBound is how long a second signal lets the aborter work: the run's
// record and the site lock are local or one round trip away.
const abortBound = 3 * time.Second

// Ending a command takes a healthy host a round trip or two: an abort waits
// for that long after the first signal. A SIGINT sooner than echoGap after
// the first is the same one sent twice (to the process and to its group).
const (
	settleTime = time.Second
	echoGap    = 250 * time.Millisecond
)

// signalContext ends the run's context on the first SIGINT or SIGTERM
// (context.Cause says which); a second one aborts at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	a := &aborter{}
	ctx = context.WithValue(ctx, abortKey{}, a)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first interrupted
		select {
		case s := <-ch:
			first = interrupted{s.(syscall.Signal)}
		case <-done:
			return
		}
		firstAt := time.Now()
		fmt.Fprintf(os.Stderr, "\n%s: stopping. Nothing new starts; the commands running are ended. Interrupt again to abort at once.\n", sigName(first.sig))
		cancel(first)
		for again := false; !again; {
			select {
			case s := <-ch:
				again = s == os.Interrupt && time.Since(firstAt) >= echoGap
			case <-done:
				return
			}
		}
		fmt.Fprintln(os.Stderr, "\nAborting.")
		a.mu.Lock()
		fn := a.fn
		a.mu.Unlock()
		if fn != nil {
			finished := make(chan struct{})
			go func() { fn(firstAt.Add(settleTime)); close(finished) }()
			select {
			case <-finished:
			case <-time.After(abortBound):
			}
		}
		os.Exit(first.exitCode())
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// errInterrupted replaces "context canceled" in the report of a resource
// whose command an interrupt ended.
var errInterrupted = errors.New("interrupted; its command was ended")

// tally follows an apply for the report of an interrupt: what each host
// changed, what was cut short, what never started, and what is running.
type tally struct {
	mu                    sync.Mutex
	running               map[string]string // host → the resource being changed
	touched               []string          // hosts that started a change, in order
	changed, cut, skipped map[string][]string
}

func newTally() *tally {
	return &tally{running: map[string]string{}, changed: map[string][]string{}, cut: map[string][]string{}, skipped: map[string][]string{}}
}

// started is engine.Options.Started: a host changes one resource at a time.
func (p *tally) started(host, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.touched, host) {
		p.touched = append(p.touched, host)
	}
	p.running[host] = addr
}

// event notes a resource's outcome and, once ctx is interrupted, tells a
// command ended by it from a failure (both come as "failed").
func (p *tally) event(ctx context.Context, e engine.Event) engine.Event {
	_, stopped := interruptOf(ctx)
	switch {
	case stopped && e.Status == engine.StatusFailed && errors.Is(e.Err, context.Canceled):
		e.Err = errInterrupted
	case stopped && e.Status == engine.StatusSkipped && e.Note == "interrupted":
		e.Err, e.Note = nil, "interrupted before it started"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, e.Host) // the event of the resource running, or after it
	switch {
	case e.Status == engine.StatusChanged:
		p.changed[e.Host] = append(p.changed[e.Host], e.Addr)
	case e.Err == errInterrupted:
		p.cut[e.Host] = append(p.cut[e.Host], e.Addr)
	case e.Status == engine.StatusSkipped:
		p.skipped[e.Host] = append(p.skipped[e.Host], e.Addr)
	}
	return e
}

// settle waits, at most until the deadline, for the resources running to
// report: their commands were ended at the first signal.
func (p *tally) settle(deadline time.Time) {
	for time.Now().Before(deadline) {
		p.mu.Lock()
		n := len(p.running)
		p.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// printInterrupted is apply's summary after an interrupt: per host, what
// changed, what was cut short and what did not start.
func (g *globals) printInterrupted(in interrupted, out engine.RolloutResult, changed int, took time.Duration) {
	p := g.tally
	fmt.Fprintf(g.stdout, "\nInterrupted by %s after %.1fs: %s changed; nothing new was started, the commands running were ended.\n",
		sigName(in.sig), took.Seconds(), plural(changed, "resource", "resources"))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, res := range out.Results {
		if out.Outcomes[i] == engine.OutcomeUntouched {
			continue
		}
		var parts []string
		if res.Err != nil {
			parts = append(parts, fmt.Sprintf("not applied: %v", res.Err))
		}
		for _, x := range []struct {
			what  string
			addrs []string
		}{{"changed", p.changed[res.Host]}, {"interrupted", p.cut[res.Host]}, {"not started", p.skipped[res.Host]}} {
			if len(x.addrs) > 0 {
				parts = append(parts, x.what+" "+strings.Join(x.addrs, ", "))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(g.stdout, "  %s: %s\n", res.Host, strings.Join(parts, "; "))
		}
	}
	if hs := hostsWith(out, engine.OutcomeUntouched); len(hs) > 0 {
		fmt.Fprintf(g.stdout, "  not started: %s\n", strings.Join(hs, ", "))
	}
}

// abort is a second SIGINT during apply: it waits (until settleBy) for the
// commands ended by the first to report, records the run as interrupted
// with what the hosts (all of the run's, in order) reported so far, frees
// the site lock, and names the hosts still busy: their host lock stays.
func (g *globals) abort(rec *runRecord, hosts []string, settleBy time.Time) {
	p := g.tally
	p.settle(settleBy)
	p.mu.Lock()
	touched := slices.Clone(p.touched)
	var busy []string
	for _, h := range hosts {
		if _, ok := p.running[h]; ok {
			busy = append(busy, h)
		}
	}
	p.mu.Unlock()
	if len(busy) > 0 {
		fmt.Fprintf(g.stderr, "Still busy, their commands perhaps running and their host lock left: %s. Once they answer: pinery unlock %s\n",
			strings.Join(busy, ", "), strings.Join(busy, ","))
	}
	rec.abort(context.Background(), g, hosts, touched)
}

// abort ends the run's record with what was reported so far (touched: the
// hosts that started a change; the others did not start) and releases the
// site lock, unless finish did.
func (rec *runRecord) abort(ctx context.Context, g *globals, hosts, touched []string) {
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
	hs := make([]backend.Host, len(hosts))
	for i, h := range hosts {
		x := backend.Host{Host: h, Outcome: backend.Untouched, Changes: rec.changes[h]}
		if slices.Contains(touched, h) {
			x.Outcome = backend.Interrupted
		}
		for _, c := range x.Changes {
			switch engine.Status(c.Status) {
			case engine.StatusChanged:
				x.Changed++
			case engine.StatusFailed:
				x.Failed++
			case engine.StatusSkipped:
				x.Skipped++
			}
		}
		hs[i] = x
	}
	fctx, cancel := context.WithTimeout(ctx, abortBound)
	defer cancel()
	if err := rec.db.FinishRun(fctx, rec.id, backend.Interrupted, hs); err != nil {
		fmt.Fprintf(g.stderr, "Warning: %v.\n", err)
	}
}

// interruptedBeforeApply ends an apply interrupted while it planned:
// nothing was changed, nothing is recorded.
func (g *globals) interruptedBeforeApply(ctx context.Context) error {
	in, ok := interruptOf(ctx)
	if !ok {
		return nil
	}
	fmt.Fprintf(g.stderr, "Interrupted by %s while planning: no host was changed.\n", sigName(in.sig))
	return exitError{in.exitCode()}
}

func hostsOf(p *plan.Plan) []string {
	hs := make([]string, len(p.Hosts))
	for i, h := range p.Hosts {
		hs[i] = h.Host
	}
	return hs
}
