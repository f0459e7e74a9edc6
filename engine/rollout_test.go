package engine_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
	"github.com/zclconf/go-cty/cty"
)

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]string{"3": "3 of 6", "0": "0 of 6", "25%": "2 of 6", "100%": "6 of 6", "x": "error", "-1": "error", "101%": "error"} {
		a, err := engine.ParseAmount(in)
		got := fmt.Sprintf("%d of 6", a.Of(6))
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// rolloutRun plans a site on six local "hosts" b1..b6 in two domains; the
// command fails on the hosts named in fail.
func rolloutRun(t *testing.T, fail string) *engine.Run {
	t.Helper()
	var hosts []*inventory.Host
	for i := 1; i <= 6; i++ {
		hosts = append(hosts, &inventory.Host{Name: fmt.Sprintf("b%d", i), Address: "localhost", Groups: []string{"all"}})
	}
	site := writeSite(t, map[string]string{"main.hcl": fmt.Sprintf(`
exec "deploy" {
  command = contains(split(",", %q), host.name) ? "exit 1" : "true"
}
`, fail)})
	r, diags := engine.Load(engine.Options{
		SiteDir: site,
		Hosts:   hosts,
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
			return transport.NewLocal(), nil
		},
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	t.Cleanup(r.Close)
	if _, diags := r.Plan(context.Background()); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return r
}

func outcomes(res engine.RolloutResult) string {
	var b strings.Builder
	for i, r := range res.Results {
		fmt.Fprintf(&b, "%s:%s ", r.Host, res.Outcomes[i])
	}
	return strings.TrimSpace(b.String())
}

func TestRolloutHaltsAtTheFailureBudget(t *testing.T) {
	r := rolloutRun(t, "b3")
	var batches []string
	res := r.ApplyRollout(context.Background(), engine.Rollout{Batch: engine.Amount{N: 2}},
		func(b engine.Batch) { batches = append(batches, strings.Join(b.Hosts, ",")) }, nil)
	if got, want := outcomes(res), "b1:applied b2:applied b3:failed b4:applied b5:untouched b6:untouched"; got != want {
		t.Errorf("outcomes %s\nwant     %s", got, want)
	}
	if !res.Halted || !strings.Contains(res.Reason, "1 host(s) failed, more than the 0 allowed") {
		t.Errorf("halted %v: %s", res.Halted, res.Reason)
	}
	if strings.Join(batches, " ") != "b1,b2 b3,b4" {
		t.Errorf("batches %v", batches)
	}
}

func TestRolloutWithinBudgetGoesOn(t *testing.T) {
	r := rolloutRun(t, "b1")
	res := r.ApplyRollout(context.Background(), engine.Rollout{Batch: engine.Amount{N: 50, Percent: true}, MaxFailures: engine.Amount{N: 1}}, nil, nil)
	if got, want := outcomes(res), "b1:failed b2:applied b3:applied b4:applied b5:applied b6:applied"; got != want || res.Halted {
		t.Errorf("outcomes %s (halted %v)\nwant     %s", got, res.Halted, want)
	}
}

func TestRolloutFailureDomains(t *testing.T) {
	r := rolloutRun(t, "")
	// b1, b3, b5 on board A; b2, b4, b6 on board B.
	domain := func(h *inventory.Host) string {
		if strings.ContainsAny(h.Name[1:], "135") {
			return "A"
		}
		return "B"
	}
	var batches []string
	r.ApplyRollout(context.Background(), engine.Rollout{Batch: engine.Amount{N: 2}, Domain: domain},
		func(b engine.Batch) { batches = append(batches, b.Domain+":"+strings.Join(b.Hosts, ",")) }, nil)
	if got := strings.Join(batches, " "); got != "A:b1,b3 A:b5 B:b2,b4 B:b6" {
		t.Errorf("batches %s: a batch must hold one domain", got)
	}
}

// --failure-domain names a host variable, else a fact.
func TestFailureDomainFromVarOrFact(t *testing.T) {
	var hosts []*inventory.Host
	for i := 1; i <= 4; i++ {
		h := &inventory.Host{Name: fmt.Sprintf("b%d", i), Address: "localhost", Groups: []string{"all"}}
		if i <= 2 {
			h.Vars = map[string]cty.Value{"os_id": cty.StringVal("board-A")}
		}
		hosts = append(hosts, h)
	}
	site := writeSite(t, map[string]string{"main.hcl": `
exec "x" {
  command = "true"
  when    = fact.os_id != ""
}
`})
	r, diags := engine.Load(engine.Options{SiteDir: site, Hosts: hosts,
		Dial: func(context.Context, *inventory.Host) (transport.Host, error) { return transport.NewLocal(), nil }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	defer r.Close()
	if _, diags := r.Plan(context.Background()); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var batches []string
	r.ApplyRollout(context.Background(), engine.Rollout{Batch: engine.Amount{N: 3}, DomainName: "os_id"},
		func(b engine.Batch) { batches = append(batches, b.Domain+":"+strings.Join(b.Hosts, ",")) }, nil)
	osID := ""
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "ID="); ok {
				osID = strings.Trim(v, `"`)
			}
		}
	}
	if want := "board-A:b1,b2 " + osID + ":b3,b4"; strings.Join(batches, " ") != want {
		t.Errorf("batches %q, want %q", batches, want)
	}
}
