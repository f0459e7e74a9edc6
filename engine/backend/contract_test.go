package backend

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/backend/pgtest"
)

// A harness opens one backend's state as many times as a case needs (each
// open is as another process would see it) and knows how that backend
// notices a dead holder.
type harness struct {
	open func(t *testing.T) Backend
}

// contractCases run against every backend: what the CLI relies on.
var contractCases = []struct {
	name string
	run  func(t *testing.T, h harness)
}{
	{"lock refused naming the holder", func(t *testing.T, h harness) {
		a, b := h.open(t), h.open(t)
		alice := holder("alice", "pinery apply site")
		l := mustLock(t, a, "site", alice)
		if l.Gen != 1 {
			t.Errorf("first lock: gen %d, want 1", l.Gen)
		}
		_, err := b.Lock(ctx(t), "site", holder("bob", "pinery apply"))
		var le *LockedError
		if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.Holder == nil {
			t.Fatalf("second lock: %v, want a LockedError naming alice", err)
		}
		got := *le.Holder
		if got.User != "alice" || got.Machine != alice.Machine || got.PID != alice.PID || got.Command != alice.Command || time.Since(got.Since) > time.Minute {
			t.Errorf("holder %+v, want alice's", got)
		}
		for _, want := range []string{"site locked by another run: alice@", " pid 4242 since ", "running: pinery apply site"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		gen, hold, err := b.LockState(ctx(t), "site", "")
		if err != nil || gen != 1 || hold == nil || hold.User != "alice" {
			t.Errorf("LockState = %d, %+v, %v; want 1, alice", gen, hold, err)
		}
		// Another site is not locked by this one.
		mustLock(t, b, "other-site", holder("bob", "")).Release(ctx(t))
		l.Release(ctx(t))
	}},
	{"lock released", func(t *testing.T, h harness) {
		a, b := h.open(t), h.open(t)
		if gen, hold, err := b.LockState(ctx(t), "site", ""); err != nil || gen != 0 || hold != nil {
			t.Fatalf("never locked: LockState = %d, %+v, %v", gen, hold, err)
		}
		l := mustLock(t, a, "site", holder("alice", ""))
		if err := l.Release(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if gen, hold, err := b.LockState(ctx(t), "site", ""); err != nil || gen != 1 || hold != nil {
			t.Errorf("after release: LockState = %d, %+v, %v; want 1, free", gen, hold, err)
		}
		l2 := mustLock(t, b, "site", holder("bob", ""))
		if l2.Gen != 2 {
			t.Errorf("second lock: gen %d, want 2", l2.Gen)
		}
		l2.Release(ctx(t))
	}},
	{"lock of a dead holder taken over", func(t *testing.T, h harness) {
		a, b := h.open(t), h.open(t)
		l := mustLock(t, a, "site", holder("alice", ""))
		l.abandon() // the process dies: no release
		l2, err := WaitLock(ctx(t), b, "site", holder("bob", ""), 10*time.Second, nil)
		if err != nil {
			t.Fatalf("the dead holder's lock was not taken over: %v", err)
		}
		// The dead holder's late release must not free its successor's lock.
		l.Release(ctx(t))
		if _, hold, err := a.LockState(ctx(t), "site", ""); err != nil || hold == nil || hold.User != "bob" {
			t.Errorf("after the old holder's release: %+v, %v; want bob", hold, err)
		}
		l2.Release(ctx(t))
	}},
	{"lock broken", func(t *testing.T, h harness) {
		a, b := h.open(t), h.open(t)
		if was, err := b.BreakLock(ctx(t), "site", ""); err != nil || len(was) != 0 {
			t.Fatalf("breaking a free lock: %+v, %v", was, err)
		}
		l := mustLock(t, a, "site", holder("alice", "pinery apply"))
		was, err := b.BreakLock(ctx(t), "site", "")
		if err != nil || len(was) != 1 || was[0].User != "alice" || was[0].Command != "pinery apply" {
			t.Fatalf("BreakLock = %+v, %v; want alice's", was, err)
		}
		if _, hold, err := b.LockState(ctx(t), "site", ""); err != nil || hold != nil {
			t.Errorf("after break: %+v, %v; want free", hold, err)
		}
		l2 := mustLock(t, b, "site", holder("bob", ""))
		l.Release(ctx(t)) // the broken holder ends later: bob keeps it
		if _, hold, _ := a.LockState(ctx(t), "site", ""); hold == nil || hold.User != "bob" {
			t.Errorf("after the broken holder's release: %+v; want bob", hold)
		}
		l2.Release(ctx(t))
	}},
	{"concurrent lockers: exactly one wins", func(t *testing.T, h harness) {
		bs := []Backend{h.open(t), h.open(t)}
		for round := range 5 {
			var wg sync.WaitGroup
			start := make(chan struct{})
			locks := make([]*Lock, 6)
			errs := make([]error, 6)
			for i := range locks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					locks[i], errs[i] = bs[i%2].Lock(ctx(t), "site", holder("u"+string(rune('a'+i)), ""))
				}()
			}
			close(start)
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrLocked):
					t.Errorf("round %d: locker %d: %v", round, i, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d lockers won, want exactly 1", round, won)
			}
			for _, l := range locks {
				if l != nil {
					l.Release(ctx(t))
				}
			}
		}
	}},
	{"runs recorded, finished, listed, shown", func(t *testing.T, h harness) {
		a := h.open(t)
		start := time.Now().UTC().Truncate(time.Millisecond)
		r1 := Run{Site: "site", User: "alice", Machine: "laptop", Version: "1.2.3", Commit: "0123abcd", Dirty: true,
			Command: "pinery apply --var token=(sensitive) site", LockGen: 7, Started: start,
			Hosts: []Host{{Host: "h2"}, {Host: "h1"}}}
		id1, err := a.RecordRun(ctx(t), r1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Run(ctx(t), id1)
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != Unfinished || !got.Ended.IsZero() || len(got.Hosts) != 2 || got.Hosts[0].Host != "h2" {
			t.Errorf("unfinished run: %+v", got)
		}
		hosts := []Host{
			{Host: "h2", Outcome: Failed, Changed: 1, Failed: 1, Skipped: 1, Changes: []Resource{
				{Address: "file.a", Action: "create", Status: "changed"},
				{Address: "package.nginx", Action: "create", Status: "failed", Error: "apt-get: E: Unable to locate package nginx"},
				{Address: "service.nginx", Action: "update", Status: "skipped", Note: "a dependency failed"},
			}},
			{Host: "h1", Outcome: NotApplied, Error: "unreachable: connection refused", Changes: []Resource{}},
		}
		if err := a.FinishRun(ctx(t), id1, Failed, hosts); err != nil {
			t.Fatal(err)
		}
		id2, err := a.RecordRun(ctx(t), Run{Site: "site", User: "bob", Machine: "ci", Version: "1.2.3", Started: time.Now()})
		if err != nil || id2 <= id1 {
			t.Fatalf("second run: id %d, %v (first %d)", id2, err, id1)
		}
		if _, err := a.RecordRun(ctx(t), Run{Site: "another-site", User: "carol", Started: time.Now()}); err != nil {
			t.Fatal(err)
		}

		got, err = h.open(t).Run(ctx(t), id1) // as another process sees it
		if err != nil {
			t.Fatal(err)
		}
		if got.Ended.Before(start) || got.Ended.After(time.Now().Add(time.Minute)) {
			t.Errorf("ended %v, want now", got.Ended)
		}
		if !got.Started.Equal(start) {
			t.Errorf("started %v, want %v", got.Started, start)
		}
		want := r1
		want.ID, want.Outcome, want.Hosts, want.Started, want.Ended = id1, Failed, hosts, got.Started, got.Ended
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Run(%d) =\n%+v\nwant\n%+v", id1, got, want)
		}

		runs, err := a.Runs(ctx(t), "site", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 || runs[0].ID != id2 || runs[1].ID != id1 {
			t.Fatalf("Runs = %+v, want runs %d, %d of this site, newest first", runs, id2, id1)
		}
		if runs[0].Outcome != Unfinished || runs[0].User != "bob" || len(runs[0].Hosts) != 0 {
			t.Errorf("listed unfinished run: %+v", runs[0])
		}
		lh := runs[1].Hosts
		if len(lh) != 2 || lh[0].Host != "h2" || lh[0].Changed != 1 || lh[0].Failed != 1 || lh[0].Outcome != Failed ||
			lh[1].Error != "unreachable: connection refused" || lh[0].Changes != nil {
			t.Errorf("listed hosts %+v: want counts and errors, no resources", lh)
		}
		if runs, err := a.Runs(ctx(t), "site", 1); err != nil || len(runs) != 1 || runs[0].ID != id2 {
			t.Errorf("Runs(limit 1) = %+v, %v", runs, err)
		}
		if _, err := a.Run(ctx(t), id2+100); !errors.Is(err, ErrNoRun) {
			t.Errorf("unknown run: %v, want ErrNoRun", err)
		}
		if err := a.FinishRun(ctx(t), id2+100, Converged, nil); !errors.Is(err, ErrNoRun) {
			t.Errorf("finishing an unknown run: %v, want ErrNoRun", err)
		}
	}},
}

func TestBackends(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		for _, c := range contractCases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), ".pinery", "state.db")
				c.run(t, harness{open: func(t *testing.T) Backend {
					// A short ttl, so that a dead holder's lock expires
					// within the test.
					b, err := OpenSQLite(ctx(t), path, true, 400*time.Millisecond)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { b.Close() })
					return b
				}})
			})
		}
	})
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t)
		for _, c := range contractCases {
			t.Run(c.name, func(t *testing.T) {
				url := srv.NewDB(t)
				c.run(t, harness{open: func(t *testing.T) Backend {
					b, err := OpenPostgres(ctx(t), url)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { b.Close() })
					return b
				}})
			})
		}
		t.Run("password never shown", func(t *testing.T) {
			url := srv.NewDB(t)
			for _, bad := range []string{
				strings.Replace(url, pgtest.Password, pgtest.Password+"-wrong", 1),          // authentication fails
				regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(url, "127.0.0.1:1"), // nothing listens
				strings.Replace(url, "sslmode=disable", "sslmode=bogus", 1),
			} {
				_, err := OpenPostgres(ctx(t), bad)
				if err == nil {
					t.Fatalf("opening %s: no error", Redact(bad))
				}
				if strings.Contains(err.Error(), pgtest.Password) {
					t.Errorf("the error shows the password: %v", err)
				}
				if !strings.Contains(err.Error(), "postgres://xxxxx@127.0.0.1") {
					t.Errorf("the error does not name the (redacted) server: %v", err)
				}
			}
		})
	})
}

func holder(user, command string) Holder {
	return Holder{User: user, Machine: "machine-" + user, PID: 4242, Command: command}
}

func mustLock(t *testing.T, b Backend, site string, h Holder) *Lock {
	t.Helper()
	l, err := b.Lock(ctx(t), site, h)
	if err != nil {
		t.Fatalf("locking %s: %v", site, err)
	}
	return l
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
