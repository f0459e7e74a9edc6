package backend

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExcludes(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"", "1/2", true},
		{"1/2", "", true},
		{"1/2", "1/2", true},
		{"1/2", "2/2", false}, // one matrix: its jobs run together
		{"2/4", "3/4", false},
		{"1/2", "1/3", true}, // another partition: slices overlap
		{"2/2", "1/20", true},
	} {
		if got := excludes(c.a, c.b); got != c.want {
			t.Errorf("excludes(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	whole := &Holder{User: "w"}
	shards := []Holder{{User: "a", Shard: "1/2"}, {User: "b", Shard: "2/2"}}
	for _, c := range []struct {
		whole  *Holder
		shards []Holder
		want   string
		user   string // "": nil
	}{
		{nil, nil, "", ""},
		{nil, nil, "1/2", ""},
		{whole, nil, "1/2", "w"},
		{nil, shards, "", "a"},
		{nil, shards, "2/2", "b"},
		{nil, shards[:1], "2/2", ""},
		{nil, shards, "3/3", "a"},
	} {
		got := blocker(c.whole, c.shards, c.want)
		if (got == nil) != (c.user == "") || got != nil && got.User != c.user {
			t.Errorf("blocker(%v, %v, %q) = %+v, want %q", c.whole, c.shards, c.want, got, c.user)
		}
	}
}

// shardCases join the contract cases: what sharded applies rely on.
var shardCases = []struct {
	name string
	run  func(t *testing.T, h harness)
}{
	{"shards of one N together, nothing else beside them", func(t *testing.T, h harness) {
		a, b := h.open(t), h.open(t)
		la := mustLock(t, a, "site", shardHolder("alice", "1/2"))
		lb := mustLock(t, b, "site", shardHolder("bob", "2/2"))
		if la.Gen != 1 || lb.Gen != 2 {
			t.Errorf("generations %d, %d; want 1, 2 (one counter for every scope)", la.Gen, lb.Gen)
		}
		for _, c := range []struct{ shard, holder string }{{"", "alice"}, {"1/2", "alice"}, {"2/2", "bob"}, {"1/3", "alice"}} {
			_, err := a.Lock(ctx(t), "site", shardHolder("carol", c.shard))
			var le *LockedError
			if !errors.As(err, &le) || le.Holder == nil || le.Holder.User != c.holder {
				t.Fatalf("locking %q beside shards 1/2, 2/2: %v, want locked by %s", c.shard, err, c.holder)
			}
			if want := "for shard " + le.Holder.Shard + ", running: "; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
			_, hold, err := b.LockState(ctx(t), "site", c.shard)
			if err != nil || hold == nil || hold.User != c.holder {
				t.Errorf("LockState(%q) = %+v, %v; want %s", c.shard, hold, err, c.holder)
			}
		}
		// Another site is not locked by these.
		mustLock(t, b, "other-site", holder("dave", "")).Release(ctx(t))

		la.Release(ctx(t))
		if _, hold, err := b.LockState(ctx(t), "site", "1/2"); err != nil || hold != nil {
			t.Errorf("after release: LockState(1/2) = %+v, %v; want free", hold, err)
		}
		mustLock(t, b, "site", shardHolder("erin", "1/2")).Release(ctx(t))
		lb.Release(ctx(t))

		// The whole site's lock excludes every shard.
		lw := mustLock(t, a, "site", holder("carol", "pinery apply site"))
		if lw.Gen != 4 {
			t.Errorf("whole-site lock: gen %d, want 4", lw.Gen)
		}
		_, err := b.Lock(ctx(t), "site", shardHolder("bob", "2/2"))
		var le *LockedError
		if !errors.As(err, &le) || le.Holder == nil || le.Holder.User != "carol" || strings.Contains(err.Error(), "for shard") {
			t.Errorf("a shard beside the whole site: %v, want locked by carol", err)
		}
		lw.Release(ctx(t))
		if gen, hold, err := b.LockState(ctx(t), "site", ""); err != nil || gen != 4 || hold != nil {
			t.Errorf("all released: LockState = %d, %+v, %v; want 4, free", gen, hold, err)
		}
	}},
	{"shard lock of a dead holder taken over", func(t *testing.T, h harness) {
		a, b := h.open(t), h.open(t)
		l := mustLock(t, a, "site", shardHolder("alice", "1/2"))
		l.abandon()
		l2, err := WaitLock(ctx(t), b, "site", shardHolder("bob", "1/2"), 10*time.Second, nil)
		if err != nil {
			t.Fatalf("the dead holder's shard was not taken over: %v", err)
		}
		l.Release(ctx(t)) // late: must not free bob's
		if _, hold, err := a.LockState(ctx(t), "site", ""); err != nil || hold == nil || hold.User != "bob" {
			t.Errorf("after the old holder's release: %+v, %v; want bob", hold, err)
		}
		l2.Release(ctx(t))
	}},
	{"shard locks broken: one, or all", func(t *testing.T, h harness) {
		a, b := h.open(t), h.open(t)
		la := mustLock(t, a, "site", shardHolder("alice", "1/2"))
		lb := mustLock(t, a, "site", shardHolder("bob", "2/2"))
		was, err := b.BreakLock(ctx(t), "site", "1/2")
		if err != nil || len(was) != 1 || was[0].User != "alice" || was[0].Shard != "1/2" {
			t.Fatalf("BreakLock(1/2) = %+v, %v; want alice's", was, err)
		}
		if _, hold, err := b.LockState(ctx(t), "site", "1/2"); err != nil || hold != nil {
			t.Errorf("after breaking 1/2: %+v, %v; want free", hold, err)
		}
		if _, hold, err := b.LockState(ctx(t), "site", "2/2"); err != nil || hold == nil || hold.User != "bob" {
			t.Errorf("breaking 1/2 freed 2/2 too: %+v, %v", hold, err)
		}
		lc := mustLock(t, b, "site", shardHolder("carol", "1/2"))
		was, err = b.BreakLock(ctx(t), "site", "")
		users := []string{}
		for _, w := range was {
			users = append(users, w.User)
		}
		slices.Sort(users)
		if err != nil || !slices.Equal(users, []string{"bob", "carol"}) {
			t.Fatalf("BreakLock(all) = %v, %v; want bob's and carol's", users, err)
		}
		if _, hold, err := b.LockState(ctx(t), "site", ""); err != nil || hold != nil {
			t.Errorf("after breaking all: %+v, %v; want free", hold, err)
		}
		for _, l := range []*Lock{la, lb, lc} {
			l.Release(ctx(t))
		}
	}},
	{"concurrent lockers of mixed scopes: never two that exclude each other", func(t *testing.T, h harness) {
		bs := []Backend{h.open(t), h.open(t)}
		scopes := []string{"", "1/2", "2/2", "1/2", "2/2", "1/3", "", "2/3"}
		for round := range 6 {
			var wg sync.WaitGroup
			start := make(chan struct{})
			locks := make([]*Lock, len(scopes))
			errs := make([]error, len(scopes))
			for i := range scopes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					sc := scopes[(i+round)%len(scopes)]
					locks[i], errs[i] = bs[i%2].Lock(ctx(t), "site", shardHolder(fmt.Sprint("u", i), sc))
				}()
			}
			close(start)
			wg.Wait()
			var won []string
			for i, err := range errs {
				switch {
				case err == nil:
					won = append(won, scopes[(i+round)%len(scopes)])
				case !errors.Is(err, ErrLocked):
					t.Errorf("round %d: locker %d: %v", round, i, err)
				}
			}
			if len(won) == 0 {
				t.Fatalf("round %d: nobody won", round)
			}
			for i := range won {
				for j := range i {
					if excludes(won[i], won[j]) {
						t.Fatalf("round %d: %q and %q both won", round, won[j], won[i])
					}
				}
			}
			for _, l := range locks {
				if l != nil {
					l.Release(ctx(t))
				}
			}
		}
	}},
	{"runs by label", func(t *testing.T, h harness) {
		a := h.open(t)
		rec := func(site, shard, label string, hosts ...string) int64 {
			r := Run{Site: site, User: "ci", Machine: "runner", Shard: shard, Label: label, Started: time.Now()}
			for _, n := range hosts {
				r.Hosts = append(r.Hosts, Host{Host: n})
			}
			id, err := a.RecordRun(ctx(t), r)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		id1 := rec("site", "2/2", "ci-42", "h2", "h3")
		rec("site", "1/2", "ci-41", "h1")
		rec("other", "1/2", "ci-42", "h1")
		id2 := rec("site", "1/2", "ci-42", "h1", "h4")
		if err := a.FinishRun(ctx(t), id2, Failed, []Host{{Host: "h1", Outcome: Converged, Changed: 2}, {Host: "h4", Outcome: Failed, Failed: 1}}); err != nil {
			t.Fatal(err)
		}
		runs, err := h.open(t).LabelRuns(ctx(t), "site", "ci-42")
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 || runs[0].ID != id1 || runs[1].ID != id2 {
			t.Fatalf("LabelRuns = %+v, want runs %d, %d, oldest first", runs, id1, id2)
		}
		if r := runs[1]; r.Shard != "1/2" || r.Label != "ci-42" || r.Outcome != Failed || len(r.Hosts) != 2 ||
			r.Hosts[0].Changed != 2 || r.Hosts[1].Outcome != Failed || r.Hosts[1].Changes != nil {
			t.Errorf("listed run %+v", r)
		}
		if r, err := a.Run(ctx(t), id1); err != nil || r.Shard != "2/2" || r.Label != "ci-42" {
			t.Errorf("Run(%d) = %+v, %v", id1, r, err)
		}
		if runs, err := a.LabelRuns(ctx(t), "site", "nope"); err != nil || len(runs) != 0 {
			t.Errorf("unknown label: %+v, %v", runs, err)
		}
	}},
}

func init() { contractCases = append(contractCases, shardCases...) }

func shardHolder(user, shard string) Holder {
	h := holder(user, "pinery apply --shard "+shard)
	h.Shard = shard
	return h
}
