package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/backend"
)

func TestSummarize(t *testing.T) {
	run := func(shard string, outcome backend.Outcome, hosts ...backend.Host) backend.Run {
		return backend.Run{Shard: shard, Outcome: outcome, Hosts: hosts}
	}
	host := func(name string, o backend.Outcome, changed int) backend.Host {
		return backend.Host{Host: name, Outcome: o, Changed: changed}
	}
	for _, c := range []struct {
		name   string
		runs   []backend.Run
		shards int
		want   labelSummary
		line   string
	}{
		{"two shards, all converged", []backend.Run{
			run("1/2", backend.Converged, host("h1", backend.Converged, 2), host("h4", backend.Converged, 0)),
			run("2/2", backend.Converged, host("h2", backend.Converged, 1)),
		}, 0, labelSummary{Hosts: 3, Converged: 3, Changed: 2, Shards: 2, Recorded: []string{"1/2", "2/2"}, Missing: []string{}},
			"3 hosts: 3 converged, 2 changed, 0 failed, 0 not applied; shards recorded: 1/2, 2/2 of 2, none missing"},
		{"a re-run supersedes its first attempt", []backend.Run{
			run("2/3", backend.NotApplied, host("h2", backend.NotApplied, 0), host("h5", backend.Failed, 1)),
			run("2/3", backend.Converged, host("h2", backend.Converged, 1), host("h5", backend.Converged, 0)),
		}, 0, labelSummary{Hosts: 2, Converged: 2, Changed: 1, Shards: 3, Recorded: []string{"2/3"}, Missing: []string{"1/3", "3/3"}},
			"2 hosts: 2 converged, 1 changed, 0 failed, 0 not applied; shards recorded: 2/3 of 3, missing: 1/3, 3/3 (never started, refused, or nothing to change)"},
		{"--shards names the missing", []backend.Run{
			run("10/12", backend.Halted, host("a", backend.Failed, 1), host("b", backend.Untouched, 0), host("c", backend.NotApplied, 0)),
			run("1/12", backend.Unfinished, host("d", backend.Unfinished, 0), host("e", backend.Interrupted, 0)),
		}, 0, labelSummary{Hosts: 5, Changed: 1, Failed: 1, NotApplied: 1, Untouched: 1, Interrupted: 1, Unfinished: 1, Shards: 12,
			Recorded: []string{"1/12", "10/12"}, Missing: []string{"2/12", "3/12", "4/12", "5/12", "6/12", "7/12", "8/12", "9/12", "11/12", "12/12"}},
			"5 hosts: 0 converged, 1 changed, 1 failed, 1 not applied, 1 untouched, 1 interrupted, 1 unfinished; shards recorded: 1/12, 10/12 of 12, missing: 2/12, 3/12, 4/12, 5/12, 6/12, 7/12, 8/12, 9/12, 11/12, 12/12 (never started, refused, or nothing to change)"},
		{"runs of different N: say nothing of shards unless told", []backend.Run{
			run("1/2", backend.Converged, host("h1", backend.Converged, 1)),
			run("1/3", backend.Converged, host("h2", backend.Converged, 1)),
		}, 0, labelSummary{Hosts: 2, Converged: 2, Changed: 2, Recorded: []string{"1/2", "1/3"}, Missing: []string{}},
			"2 hosts: 2 converged, 2 changed, 0 failed, 0 not applied"},
		{"--shards over a partial run", []backend.Run{
			run("", backend.Converged, host("h1", backend.Converged, 1)),
		}, 2, labelSummary{Hosts: 1, Converged: 1, Changed: 1, Shards: 2, Recorded: []string{}, Missing: []string{"1/2", "2/2"}},
			"1 host: 1 converged, 1 changed, 0 failed, 0 not applied; shards recorded: none of 2, missing: 1/2, 2/2 (never started, refused, or nothing to change)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := summarize(c.runs, c.shards)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("summarize =\n%+v\nwant\n%+v", got, c.want)
			}
			if got.String() != c.line {
				t.Errorf("line =\n%s\nwant\n%s", got, c.line)
			}
		})
	}
}

// history --label over runs recorded in a site's SQLite state: the parts
// in order, the total, and the same in JSON; other labels left out.
func TestHistoryLabelCLI(t *testing.T) {
	site := t.TempDir()
	ctx := context.Background()
	b, err := backend.Open(ctx, "", site, true)
	if err != nil {
		t.Fatal(err)
	}
	id, err := backend.SiteOf(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	record := func(shard, label string, outcome backend.Outcome, hosts ...backend.Host) {
		start := time.Now()
		rid, err := b.RecordRun(ctx, backend.Run{Site: id.ID, User: "ci", Machine: "runner", Shard: shard, Label: label, Started: start, Hosts: hosts})
		if err == nil {
			err = b.FinishRun(ctx, rid, outcome, hosts)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	record("1/3", "ci-7", backend.Converged, backend.Host{Host: "h1", Outcome: backend.Converged, Changed: 2})
	record("", "", backend.Converged, backend.Host{Host: "h9", Outcome: backend.Converged, Changed: 1})
	record("3/3", "ci-7", backend.Failed, backend.Host{Host: "h3", Outcome: backend.Failed, Changed: 1, Failed: 1},
		backend.Host{Host: "h6", Outcome: backend.NotApplied, Error: "unreachable"})
	record("1/3", "ci-6", backend.Converged, backend.Host{Host: "h1", Outcome: backend.Converged, Changed: 1})
	b.Close()

	cli := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader("")}
		root := newRoot(g)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("pinery %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	out := cli("history", "--label", "ci-7", site)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || lines[0] != `Runs labelled "ci-7" of the site `+id.ID+":" ||
		!strings.HasPrefix(lines[1], "RUN  SHARD  STARTED ") ||
		!strings.HasPrefix(lines[2], "1    1/3  ") || !strings.HasSuffix(lines[2], "ci@runner  converged  1 host, 1 changed") ||
		!strings.HasPrefix(lines[3], "3    3/3  ") || !strings.HasSuffix(lines[3], "ci@runner  failed     2 hosts, 1 changed, 2 failed") ||
		lines[4] != "Total: 3 hosts: 1 converged, 2 changed, 1 failed, 1 not applied; shards recorded: 1/3, 3/3 of 3, missing: 2/3 (never started, refused, or nothing to change)." {
		t.Errorf("history --label:\n%s", out)
	}

	var js struct {
		Label   string       `json:"label"`
		Runs    []jsonRun    `json:"runs"`
		Summary labelSummary `json:"summary"`
	}
	out = cli("history", "--label", "ci-7", "--shards", "4", "--json", site)
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if js.Label != "ci-7" || len(js.Runs) != 2 || js.Runs[1].Shard != "3/3" || js.Runs[1].Label != "ci-7" ||
		js.Summary.Shards != 4 || strings.Join(js.Summary.Missing, ",") != "1/4,2/4,3/4,4/4" || js.Summary.Hosts != 3 {
		t.Errorf("history --label --json:\n%s", out)
	}

	// The plain list shows the shard and label columns.
	out = cli("history", site)
	if !strings.Contains(out, "SHARD  LABEL  OUTCOME") || !strings.Contains(out, "  -      -      converged  1 host, 1 changed") {
		t.Errorf("history:\n%s", out)
	}
	if out := cli("history", "--label", "nope", site); !strings.HasPrefix(out, `No applies recorded with the label "nope"`) {
		t.Errorf("unknown label: %s", out)
	}
}
