package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/inventory"
)

// labelSummary sums up the runs of one label (the shards of one CI run):
// each host once, as its latest run of the label left it (a re-run job
// supersedes its first attempt).
type labelSummary struct {
	Hosts       int `json:"hosts"`
	Converged   int `json:"converged"`
	Changed     int `json:"changed"` // hosts with a changed resource, whatever their outcome
	Failed      int `json:"failed"`
	NotApplied  int `json:"not_applied"`
	Untouched   int `json:"untouched"`
	Interrupted int `json:"interrupted"`
	Unfinished  int `json:"unfinished"`
	// Shards is N: --shards, else the N that every sharded run of the
	// label has (0: unknown, or none was sharded).
	Shards   int      `json:"shards"`
	Recorded []string `json:"recorded_shards"`
	Missing  []string `json:"missing_shards"` // of 1/N..N/N, those with no run
}

// summarize aggregates runs (oldest first); shards is --shards (0: infer).
func summarize(runs []backend.Run, shards int) labelSummary {
	last := map[string]backend.Host{}
	var order []string
	recorded := map[string]bool{}
	counts := map[int]bool{}
	for _, r := range runs {
		for _, h := range r.Hosts {
			if _, ok := last[h.Host]; !ok {
				order = append(order, h.Host)
			}
			last[h.Host] = h
		}
		if s, err := inventory.ParseShard(r.Shard); err == nil && s.N > 1 {
			recorded[s.String()] = true
			counts[s.N] = true
		}
	}
	sum := labelSummary{Hosts: len(order), Shards: shards, Recorded: []string{}, Missing: []string{}}
	for _, name := range order {
		h := last[name]
		if h.Changed > 0 {
			sum.Changed++
		}
		switch h.Outcome {
		case backend.Converged:
			sum.Converged++
		case backend.Failed:
			sum.Failed++
		case backend.NotApplied:
			sum.NotApplied++
		case backend.Untouched:
			sum.Untouched++
		case backend.Interrupted:
			sum.Interrupted++
		default:
			sum.Unfinished++
		}
	}
	if sum.Shards == 0 && len(counts) == 1 {
		for n := range counts {
			sum.Shards = n
		}
	}
	for s := range recorded {
		sum.Recorded = append(sum.Recorded, s)
	}
	slices.SortFunc(sum.Recorded, func(a, b string) int {
		sa, _ := inventory.ParseShard(a)
		sb, _ := inventory.ParseShard(b)
		return cmpShard(sa, sb)
	})
	for i := 1; i <= sum.Shards && sum.Shards > 1; i++ {
		if s := (inventory.Shard{I: i, N: sum.Shards}).String(); !recorded[s] {
			sum.Missing = append(sum.Missing, s)
		}
	}
	return sum
}

func cmpShard(a, b inventory.Shard) int {
	if a.N != b.N {
		return a.N - b.N
	}
	return a.I - b.I
}

// String is the summary line: "6 hosts: 6 converged, 6 changed, 0 failed,
// 0 not applied; shards 1/2, 2/2 of 2: none missing".
func (s labelSummary) String() string {
	parts := []string{fmt.Sprintf("%d converged", s.Converged), fmt.Sprintf("%d changed", s.Changed),
		fmt.Sprintf("%d failed", s.Failed), fmt.Sprintf("%d not applied", s.NotApplied)}
	for _, c := range []struct {
		n    int
		what string
	}{{s.Untouched, "untouched"}, {s.Interrupted, "interrupted"}, {s.Unfinished, "unfinished"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	line := plural(s.Hosts, "host", "hosts") + ": " + strings.Join(parts, ", ")
	if s.Shards > 1 {
		rec := "none"
		if len(s.Recorded) > 0 {
			rec = strings.Join(s.Recorded, ", ")
		}
		line += fmt.Sprintf("; shards recorded: %s of %d", rec, s.Shards)
		if len(s.Missing) == 0 {
			line += ", none missing"
		} else {
			line += ", missing: " + strings.Join(s.Missing, ", ") + " (never started, refused, or nothing to change)"
		}
	}
	return line
}

// writeLabel prints the runs of a label, then their summary.
func writeLabel(g *globals, site, label string, runs []backend.Run, sum labelSummary) error {
	if len(runs) == 0 {
		fmt.Fprintf(g.stdout, "No applies recorded with the label %q for the site %s.\n", label, site)
		return nil
	}
	fmt.Fprintf(g.stdout, "Runs labelled %q of the site %s:\n", label, site)
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSHARD\tSTARTED\tTOOK\tBY\tOUTCOME\tHOSTS")
	for _, r := range runs {
		took := "running"
		if !r.Ended.IsZero() {
			took = r.Ended.Sub(r.Started).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s@%s\t%s\t%s\n", r.ID, dash(r.Shard), r.Started.Local().Format("2006-01-02 15:04:05"),
			took, r.User, r.Machine, outcomeText(r.Outcome), hostCounts(r.Hosts))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Total: %s.\n", sum)
	return nil
}
