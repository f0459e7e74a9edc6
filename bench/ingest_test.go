package bench

import (
	"context"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/engine/backend/pgtest"
)

// 500 boards report twice each, 32 at a time, into a real PostgreSQL:
// Status must list exactly the 500 boards, each with its own last report
// (not an earlier one, not a neighbour's). Correctness only; make
// bench-scale measures the speed.
func TestIngestStatus(t *testing.T) {
	url := pgtest.Start(t).NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const hosts = 500
	in := Ingest{URL: url, Site: "github.com/example/site", Hosts: hosts, Runs: 2, Writers: 32}
	res, err := in.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reports != 2*hosts {
		t.Fatalf("recorded %d reports, want %d", res.Reports, 2*hosts)
	}
	// Another site's reports must not show.
	other := Ingest{URL: url, Site: "github.com/example/other", Hosts: 3, Runs: 1, Writers: 1, Reuse: true}
	if _, err := other.Run(ctx); err != nil {
		t.Fatal(err)
	}

	b, err := backend.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := b.(backend.Reports).Status(ctx, in.Site)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != hosts {
		t.Fatalf("Status lists %d hosts, want %d", len(st), hosts)
	}
	failed := 0
	for i, s := range st {
		n := i + 1 // sorted by name: b00001, b00002, ...
		if s.Host != HostName(n) {
			t.Fatalf("row %d is %s, want %s", i, s.Host, HostName(n))
		}
		if s.Origin != backend.OriginPull || s.Bundle != "v2" || s.Ended.IsZero() {
			t.Errorf("%s: origin %q, bundle %q, ended %v; want the finished pull of v2", s.Host, s.Origin, s.Bundle, s.Ended)
		}
		switch {
		case n%10 == 0:
			failed++
			// Its last success is the first report, before the failure.
			if s.Outcome != backend.Failed || s.Failed != 1 || s.Error == "" || s.LastSuccess.IsZero() || !s.LastSuccess.Before(s.Ended) {
				t.Errorf("%s: %+v, want failed with an earlier success", s.Host, s)
			}
		default:
			if s.Outcome != backend.Converged || s.Changed != n%5 || !s.LastSuccess.Equal(s.Ended) {
				t.Errorf("%s: %+v, want converged changing %d, last success its end", s.Host, s, n%5)
			}
		}
	}
	if failed != hosts/10 {
		t.Errorf("%d hosts failed, want %d", failed, hosts/10)
	}
}

func TestIngestRefusesEmpty(t *testing.T) {
	for _, in := range []Ingest{{Hosts: 0, Runs: 1, Writers: 1}, {Hosts: 1, Runs: 0, Writers: 1}, {Hosts: 1, Runs: 1, Writers: 0}} {
		if _, err := in.Run(context.Background()); err == nil {
			t.Errorf("%+v: no error", in)
		}
	}
}
