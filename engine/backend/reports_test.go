package backend

import (
	"testing"
	"time"
)

// The report cases run in TestBackends against both backends.
func init() {
	contractCases = append(contractCases, struct {
		name string
		run  func(t *testing.T, h harness)
	}{"pull reports and fleet status", testStatus})
}

func testStatus(t *testing.T, h harness) {
	a := h.open(t)
	if st, err := a.(Reports).Status(ctx(t), "site"); err != nil || len(st) != 0 {
		t.Fatalf("no runs: Status = %+v, %v", st, err)
	}
	push := func(outcome Outcome, hosts ...Host) int64 {
		id, err := a.RecordRun(ctx(t), Run{Site: "site", User: "alice", Started: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.FinishRun(ctx(t), id, outcome, hosts); err != nil {
			t.Fatal(err)
		}
		return id
	}
	pull := func(host, bundle string, outcome Outcome, changed int, finish bool) int64 {
		id, err := a.(Reports).RecordPull(ctx(t), Run{Site: "site", User: "root", Machine: host, Started: time.Now(), Hosts: []Host{{Host: host}}}, bundle)
		if err != nil {
			t.Fatal(err)
		}
		if finish {
			if err := a.FinishRun(ctx(t), id, outcome, []Host{{Host: host, Outcome: outcome, Changed: changed}}); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	p1 := push(Failed, Host{Host: "h1", Outcome: Converged, Changed: 2}, Host{Host: "h2", Outcome: Failed, Changed: 1, Failed: 1})
	pull("h2", "v1", Converged, 3, true)
	p3 := pull("h2", "v2", Failed, 0, true)
	pull("h3", "v2", "", 0, false) // running (or died)
	push(Halted, Host{Host: "h1", Outcome: Untouched})
	if _, err := a.(Reports).RecordPull(ctx(t), Run{Site: "another-site", Started: time.Now(), Hosts: []Host{{Host: "h9"}}}, "x"); err != nil {
		t.Fatal(err)
	}
	st, err := h.open(t).(Reports).Status(ctx(t), "site")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || st[0].Host != "h1" || st[1].Host != "h2" || st[2].Host != "h3" {
		t.Fatalf("Status = %+v, want h1, h2, h3", st)
	}
	h1, h2, h3 := st[0], st[1], st[2]
	if h1.RunID != p1 || h1.Origin != OriginPush || h1.Outcome != Converged || h1.Changed != 2 || h1.LastSuccess.IsZero() || !h1.LastSuccess.Equal(h1.Ended) {
		t.Errorf("h1 (its last run left it untouched): %+v, want push run %d, converged", h1, p1)
	}
	if h2.RunID != p3 || h2.Origin != OriginPull || h2.Bundle != "v2" || h2.Outcome != Failed || h2.LastSuccess.IsZero() || !h2.LastSuccess.Before(h2.Ended) {
		t.Errorf("h2: %+v, want the failed pull of v2 (run %d), with the earlier pull's success", h2, p3)
	}
	if h3.Outcome != Unfinished || !h3.Ended.IsZero() || !h3.LastSuccess.IsZero() || h3.Bundle != "v2" {
		t.Errorf("h3: %+v, want an unfinished pull, never a success", h3)
	}
	r, err := a.Run(ctx(t), p3) // a pull is a run of the site's history
	if err != nil || r.Site != "site" || r.Outcome != Failed || len(r.Hosts) != 1 {
		t.Errorf("Run(%d) = %+v, %v", p3, r, err)
	}
}
