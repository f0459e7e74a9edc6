package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pinery/pinery/engine/backend"
)

// Ingest describes a burst of pull reports, as many boards finishing
// `pinery pull` at once would send them (make bench-scale; the test checks
// what it writes).
type Ingest struct {
	URL     string // postgres:// URL (never printed)
	Site    string // the site ID the reports belong to
	Hosts   int    // boards b00001..bNNNNN
	Runs    int    // reports per board, in order (≥ 1)
	Writers int    // boards reporting at the same time
	// Reuse keeps one connection per writer; without it every report opens
	// the backend (connect, authenticate, check the schema) as each pull
	// process does.
	Reuse bool
}

// IngestResult is what Run measured.
type IngestResult struct {
	Reports   int     `json:"reports"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"reports_per_second"`
	P50ms     float64 `json:"report_p50_ms"`
	P95ms     float64 `json:"report_p95_ms"`
	Maxms     float64 `json:"report_max_ms"`
}

// HostName is board i's name (1-based).
func HostName(i int) string { return fmt.Sprintf("b%05d", i) }

// LastOutcome is how board i's last report ends: every tenth board failed
// (with one failed resource), the others converged changing i%5 resources.
// Earlier reports always converged, changing one resource.
func LastOutcome(i int) (outcome backend.Outcome, changed, failed int) {
	if i%10 == 0 {
		return backend.Failed, 0, 1
	}
	return backend.Converged, i % 5, 0
}

// Run records the reports, Writers boards at a time, each board's reports
// in order, through the backend API a pull uses (RecordPull + FinishRun).
func (in Ingest) Run(ctx context.Context) (IngestResult, error) {
	if in.Hosts < 1 || in.Runs < 1 || in.Writers < 1 {
		return IngestResult{}, fmt.Errorf("ingest: hosts, runs and writers must be at least 1")
	}
	// Create the schema first: it is not part of what is measured.
	b, err := backend.OpenPostgres(ctx, in.URL)
	if err != nil {
		return IngestResult{}, err
	}
	b.Close()

	jobs := make(chan int)
	lat := make([][]time.Duration, in.Writers)
	errs := make([]error, in.Writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range in.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn backend.Backend
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for i := range jobs {
				if errs[w] != nil {
					continue // drain: another board's failure must not block the feeder
				}
				for r := 1; r <= in.Runs; r++ {
					t0 := time.Now()
					if conn == nil {
						if conn, errs[w] = backend.OpenPostgres(ctx, in.URL); errs[w] != nil {
							break
						}
					}
					if errs[w] = in.report(ctx, conn, i, r); errs[w] != nil {
						break
					}
					if !in.Reuse {
						conn.Close()
						conn = nil
					}
					lat[w] = append(lat[w], time.Since(t0))
				}
			}
		}()
	}
	for i := 1; i <= in.Hosts; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return IngestResult{}, err
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	ms := func(q float64) float64 {
		return float64(all[min(len(all)-1, int(q*float64(len(all))))].Microseconds()) / 1000
	}
	return IngestResult{Reports: len(all), Seconds: elapsed.Seconds(), PerSecond: float64(len(all)) / elapsed.Seconds(),
		P50ms: ms(0.5), P95ms: ms(0.95), Maxms: ms(1)}, nil
}

// report records board i's r-th pull, started and finished.
func (in Ingest) report(ctx context.Context, b backend.Backend, i, r int) error {
	host := HostName(i)
	run := backend.Run{Site: in.Site, User: "root", Machine: host, Version: "bench", Command: "pinery pull",
		Started: time.Now(), Hosts: []backend.Host{{Host: host}}}
	id, err := b.(backend.Reports).RecordPull(ctx, run, fmt.Sprintf("v%d", r))
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	outcome, changed, failed := backend.Converged, 1, 0
	if r == in.Runs {
		outcome, changed, failed = LastOutcome(i)
	}
	h := backend.Host{Host: host, Outcome: outcome, Changed: changed, Failed: failed}
	if failed > 0 {
		h.Error = "1 resource failed"
	}
	if err := b.FinishRun(ctx, id, outcome, []backend.Host{h}); err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	return nil
}
