package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/inventory"
)

// A host reads another host's facts through the inventory object: those
// gathered in this run, else the cached ones, else null.
func TestInventoryFacts(t *testing.T) {
	inv, diags := inventory.Parse([]byte(`
host "b1" {
  connection = "local"
}
host "b2" {
  connection = "local"
}
host "b3" {
  address = "192.0.2.3"
}
`), "inv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	dir := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
# Planned as nothing to do exactly when the environment holds what it should.
exec "peer" {
  command = "true"
  unless  = "test \"$B1_KERNEL\" = \"$(cat /proc/sys/kernel/osrelease)\" && test \"$B3\" = 'never seen' && test \"$MINE\" = \"$B1_KERNEL\""
  environment = {
    B1_KERNEL = inventory.hosts.b1.facts.kernel
    B3        = try(inventory.hosts.b3.facts.kernel, "never seen")
    MINE      = fact.kernel
  }
}
`})
	load := func() *engine.Run {
		b1, _ := inv.Host("b1")
		b2, _ := inv.Host("b2")
		r, diags := engine.Load(engine.Options{SiteDir: site, Hosts: []*inventory.Host{b1, b2}, Inventory: inv, FactsCache: dir})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		t.Cleanup(r.Close)
		return r
	}
	for round := 1; round <= 2; round++ { // without, then with cached facts
		r := load()
		p, diags := r.Plan(context.Background())
		if diags.HasErrors() || p.HasErrors() {
			t.Fatalf("round %d: %v %v", round, diags, p.Hosts[0].Error)
		}
		if p.HasChanges() {
			var b strings.Builder
			_ = p.WriteText(&b, planStyle())
			t.Errorf("round %d: the environment was not what the inventory says:\n%s", round, b.String())
		}
		if round == 2 {
			for _, st := range r.Stats() {
				if st.Sessions != 1 {
					t.Errorf("round 2, %s: %d sessions, want 1 (facts and probes together)", st.Host, st.Sessions)
				}
			}
		}
	}
}
