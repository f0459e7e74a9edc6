package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/backend"
)

// The first SIGINT or SIGTERM ends the context with the signal as its
// cause; a SIGTERM again, or a SIGINT echoed at once (sent to the process
// and to its group), does not abort: the test process lives on.
func TestSignalContext(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		ctx, stop := signalContext()
		if _, ok := interruptOf(ctx); ok {
			t.Fatal("interrupted before any signal")
		}
		aborted := false
		onAbort(ctx, func(time.Time) { aborted = true })
		for range 2 {
			if err := syscall.Kill(syscall.Getpid(), c.sig); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: context not ended", c.sig)
		}
		in, ok := interruptOf(ctx)
		if !ok || in.sig != c.sig || in.exitCode() != c.code {
			t.Errorf("%v: interruptOf = %v %v, exit code %d; want the signal, exit code %d", c.sig, in, ok, in.exitCode(), c.code)
		}
		time.Sleep(100 * time.Millisecond) // an abort would have run (and exited)
		stop()
		if aborted {
			t.Errorf("%v sent twice at once aborted", c.sig)
		}
	}
	ctx, stop := signalContext()
	stop()
	if _, ok := interruptOf(ctx); ok {
		t.Error("a context stopped without a signal reads as interrupted")
	}
}

// Once interrupted, a command ended by the signal is reported as such,
// not as "context canceled"; what did not start says so; other failures
// stay what they are. The tally sorts each for the summary.
func TestTallyEvent(t *testing.T) {
	stopped, cancel := context.WithCancelCause(context.Background())
	cancel(interrupted{syscall.SIGINT})
	cut := fmt.Errorf("exec \"sleep 30\": %w", context.Canceled)
	broken := errors.New("exec \"false\": exit status 1")
	for _, c := range []struct {
		name     string
		ctx      context.Context
		in       engine.Event
		err      error
		note     string
		bucketed string
	}{
		{"changed", stopped, engine.Event{Status: engine.StatusChanged}, nil, "", "changed"},
		{"ended by the signal", stopped, engine.Event{Status: engine.StatusFailed, Err: cut}, errInterrupted, "", "cut"},
		{"a real failure", stopped, engine.Event{Status: engine.StatusFailed, Err: broken}, broken, "", ""},
		{"not started", stopped, engine.Event{Status: engine.StatusSkipped, Err: context.Canceled, Note: "interrupted"}, nil, "interrupted before it started", "skipped"},
		{"after a failed dependency", stopped, engine.Event{Status: engine.StatusSkipped, Note: "a dependency failed"}, nil, "a dependency failed", "skipped"},
		{"cancelled without a signal", context.Background(), engine.Event{Status: engine.StatusFailed, Err: cut}, cut, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTally()
			c.in.Host, c.in.Addr = "h1", "exec.x"
			p.started("h1", "exec.x")
			got := p.event(c.ctx, c.in)
			if got.Err != c.err || got.Note != c.note {
				t.Errorf("event = err %v, note %q; want err %v, note %q", got.Err, got.Note, c.err, c.note)
			}
			buckets := map[string][]string{"changed": p.changed["h1"], "cut": p.cut["h1"], "skipped": p.skipped["h1"]}
			for name, addrs := range buckets {
				if want := name == c.bucketed; (len(addrs) == 1) != want {
					t.Errorf("%s = %q, want it there: %v", name, addrs, want)
				}
			}
			if len(p.running) != 0 {
				t.Errorf("still running after its event: %v", p.running)
			}
		})
	}
}

func TestPrintInterrupted(t *testing.T) {
	var out bytes.Buffer
	g := &globals{stdout: &out, tally: newTally()}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interrupted{syscall.SIGTERM})
	for _, e := range []engine.Event{
		{Host: "h1", Addr: "directory.d", Status: engine.StatusChanged},
		{Host: "h1", Addr: "exec.slow", Status: engine.StatusFailed, Err: context.Canceled},
		{Host: "h1", Addr: "file.after", Status: engine.StatusSkipped, Note: "a dependency failed"},
		{Host: "h1", Addr: "file.later", Status: engine.StatusSkipped, Note: "interrupted", Err: context.Canceled},
	} {
		g.tally.event(ctx, e)
	}
	res := engine.RolloutResult{
		Results:  []engine.HostResult{{Host: "h1", Changed: 1, Failed: 1, Skipped: 2}, {Host: "h2", Err: errors.New("unreachable: connection refused")}, {Host: "h3"}},
		Outcomes: []engine.HostOutcome{engine.OutcomeFailed, engine.OutcomeFailed, engine.OutcomeUntouched},
	}
	g.printInterrupted(interrupted{syscall.SIGTERM}, res, 1, 2500*time.Millisecond)
	want := `
Interrupted by SIGTERM after 2.5s: 1 resource changed; nothing new was started, the commands running were ended.
  h1: changed directory.d; interrupted exec.slow; not started file.after, file.later
  h2: not applied: unreachable: connection refused
  not started: h3
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// A second SIGINT records the run as interrupted with what was reported
// (the hosts that started; the others untouched) and frees the site lock;
// a finish that comes after it does nothing.
func TestAbortRecordsAndUnlocks(t *testing.T) {
	ctx := context.Background()
	b, err := backend.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), true, backend.TTL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	me := backend.CurrentHolder("pinery apply site")
	lock, err := b.Lock(ctx, "site", me)
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.RecordRun(ctx, backend.Run{Site: "site", Command: "pinery apply site", LockGen: lock.Gen, Started: time.Now(),
		Hosts: []backend.Host{{Host: "h1"}, {Host: "h2"}}})
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	g := &globals{stderr: &errb, tally: newTally()}
	rec := &runRecord{db: b, lock: lock, id: id, changes: map[string][]backend.Resource{}}
	g.tally.started("h1", "exec.slow")
	rec.event(engine.Event{Host: "h1", Addr: "directory.d", Status: engine.StatusChanged})
	g.abort(rec, []string{"h1", "h2"}, time.Now().Add(50*time.Millisecond))

	if want := "Still busy, their commands perhaps running and their host lock left: h1. Once they answer: pinery unlock h1\n"; errb.String() != want {
		t.Errorf("stderr = %q, want %q", errb.String(), want)
	}
	run, err := b.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Outcome != backend.Interrupted || len(run.Hosts) != 2 ||
		run.Hosts[0].Outcome != backend.Interrupted || run.Hosts[0].Changed != 1 || len(run.Hosts[0].Changes) != 1 ||
		run.Hosts[1].Outcome != backend.Untouched {
		t.Errorf("recorded run: %+v", run)
	}
	again, err := b.Lock(ctx, "site", me)
	if err != nil {
		t.Fatalf("the site lock was not released: %v", err)
	}
	defer again.Release(ctx)
	rec.finish(ctx, g, engine.RolloutResult{Results: []engine.HostResult{{Host: "h1"}, {Host: "h2"}}, Outcomes: make([]engine.HostOutcome, 2)}, 0)
	if run, _ := b.Run(ctx, id); run.Outcome != backend.Interrupted {
		t.Errorf("finish after the abort changed the record to %q", run.Outcome)
	}
}
