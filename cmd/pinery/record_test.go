package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/engine/resource"
)

func TestCommandLine(t *testing.T) {
	sensitive := map[string]bool{"token": true, "motd": false}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"apply", "-l", "web", "site"}, "pinery apply -l web site"},
		{[]string{"apply", "--var", "token=hunter2", "--var=motd=hi there", "site"},
			"pinery apply --var='token=(sensitive)' --var='motd=hi there' site"},
		{[]string{"apply", "--var=token=a=b", "--var", "other=x"}, "pinery apply --var='token=(sensitive)' --var=other=x"},
		{[]string{"apply", "--backend", "postgres://ci:hunter2@db/p", "--backend=postgres://u:hunter2@db/p"},
			"pinery apply --backend=postgres://xxxxx@db/p --backend=postgres://xxxxx@db/p"},
		{[]string{"apply", "site", "--var"}, "pinery apply site --var"},
		{[]string{"apply", "it's"}, `pinery apply 'it'"'"'s'`},
	} {
		got := commandLine(c.args, sensitive)
		if got != c.want {
			t.Errorf("commandLine(%q) = %s, want %s", c.args, got, c.want)
		}
		if strings.Contains(got, "hunter2") {
			t.Errorf("commandLine(%q) shows a secret: %s", c.args, got)
		}
	}
}

// A plan made while another run held the site lock (or took it before
// this one) is refused when that run changed a host this plan changes.
func TestStalePlan(t *testing.T) {
	ctx := context.Background()
	b, err := backend.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), true, backend.TTL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	changes := func(hosts ...string) *plan.Plan {
		p := &plan.Plan{}
		for _, h := range hosts {
			hp := &plan.HostPlan{Host: h, Resources: []*plan.ResourcePlan{{Addr: "file.a", Action: resource.NoOp}}}
			if !strings.HasSuffix(h, "=") {
				hp.Resources[0].Action = resource.Update
			}
			p.Hosts = append(p.Hosts, hp)
		}
		return p
	}
	// Runs of the site, by the lock generation they held: 1 changed h1;
	// 2 changed nothing on h2; 3 is unfinished on h3 (killed).
	record := func(gen int64, outcome backend.Outcome, hosts ...backend.Host) {
		id, err := b.RecordRun(ctx, backend.Run{Site: "s", User: "bob", Machine: "ci", LockGen: gen, Started: time.Now(), Hosts: hosts})
		if err != nil {
			t.Fatal(err)
		}
		if outcome != backend.Unfinished {
			if err := b.FinishRun(ctx, id, outcome, hosts); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(1, backend.Converged, backend.Host{Host: "h1", Changed: 2})
	record(2, backend.Converged, backend.Host{Host: "h2"})
	record(3, backend.Unfinished, backend.Host{Host: "h3"})
	for _, c := range []struct {
		name     string
		seen     int64 // the lock's generation before planning
		gen      int64 // the generation this run's lock got
		plan     *plan.Plan
		wantRun  string // "": accepted
		unseeded bool   // a saved plan: no generation seen
	}{
		{"nobody in between", 3, 4, changes("h1", "h2", "h3"), "", false},
		{"run 1 changed h1, which this plan changes", 0, 4, changes("h1"), "run 1 (bob@ci) applied the site and changed h1", false},
		{"run 1 changed h1, which this plan leaves", 0, 4, changes("h1=", "h2"), "", false},
		{"run 2 changed nothing", 1, 3, changes("h2"), "", false},
		{"an unfinished run counts as changing its hosts", 2, 4, changes("h3"), "run 3 (bob@ci) applied the site and changed h3", false},
		{"runs before the plan do not count", 1, 4, changes("h1"), "", false},
		{"a saved plan is checked against its hosts instead", 0, 4, changes("h1"), "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			g := &globals{stderr: &stderr}
			g.state.site = backend.Site{ID: "s"}
			g.state.seenGen, g.state.seen = c.seen, !c.unseeded
			err := g.checkNoneApplied(ctx, &runRecord{db: b, lock: &backend.Lock{Gen: c.gen}}, c.plan)
			var ee exitError
			switch {
			case c.wantRun == "" && err != nil:
				t.Errorf("refused: %v %s", err, stderr.String())
			case c.wantRun != "" && (!errors.As(err, &ee) || ee.code != exitNotApplied):
				t.Errorf("err = %v, want exit code %d", err, exitNotApplied)
			case c.wantRun != "" && !strings.Contains(stderr.String(), c.wantRun+": this plan may be stale; plan again"):
				t.Errorf("message %q lacks %q", stderr.String(), c.wantRun)
			}
		})
	}
}
