package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// carriedSite: the apps read the database's address and (sensitive)
// password; the front node reads the apps' upstreams.
func carriedSite(t *testing.T) string {
	return writeSite(t, map[string]string{
		"roles/db/main.hcl": `
output "url" { value = "postgres://${host.address}:5432" }
output "password" {
  value     = "s3cret-${host.name}"
  sensitive = true
}
`,
		"roles/app/main.hcl": `
variable "url" { type = string }
variable "password" { type = string }
file "conf" {
  path    = "/nonexistent/app.conf"
  content = "url=${var.url}\n"
}
file "secret" {
  path    = "/nonexistent/app.secret"
  content = var.password
}
output "upstream" { value = "${host.address}:8080" }
`,
		"roles/front/main.hcl": frontRole,
		"main.hcl": `
role "db" {
  source  = "./roles/db"
  targets = ["db"]
}
role "app" {
  source  = "./roles/app"
  targets = ["apps"]
  inputs  = { url = outputs.db["db"].url, password = outputs.db["db"].password }
}
role "front" {
  source  = "./roles/front"
  targets = ["front"]
  inputs  = { upstreams = [for h, o in outputs.app : o.upstream] }
}
`})
}

// A bundle's hosts read outputs evaluated on the controller: OutputsOf
// evaluates them there (every producer offline), they survive the trip
// through JSON with their sensitive parts, and a board whose inventory
// holds only itself plans with them.
func TestCarriedOutputs(t *testing.T) {
	site := carriedSite(t)
	ctl, err := loadOutputs(t, site) // no host selected: every producer offline
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	inv, _ := inventory.Parse([]byte(outputsInventory), "inv.hcl")
	carried := map[string]cty.Value{}
	for _, name := range []string{"front", "app1"} {
		h, _ := inv.Host(name)
		if carried[name], err = ctl.OutputsOf(h); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	data, sensitive, err := engine.MarshalOutputs(carried)
	if err != nil {
		t.Fatal(err)
	}
	if !sensitive || strings.Contains(string(data), "sensitive\": null") {
		t.Errorf("the database's password is sensitive: %v\n%s", sensitive, data)
	}
	back, err := engine.UnmarshalOutputs(data)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range carried {
		if !back[name].RawEquals(want) {
			t.Errorf("%s: carried\n%#v\nback\n%#v", name, want, back[name])
		}
	}
	pw := back["app1"].GetAttr("db").GetAttr("db").GetAttr("password")
	if !pw.HasMark(eval.Sensitive) {
		t.Errorf("the password lost its mark: %#v", pw)
	}

	// Boards: an inventory of one host, local, with the carried outputs
	// (a bundle without them is an error, not an empty object).
	for host, tc := range map[string]struct{ inv, want string }{
		"front": {`host "front" { connection = "local" }`, "+10.0.0.11:8080\n+10.0.0.12:8080"},
		"app1": {`host "app1" {
  connection = "local"
  groups     = ["apps"]
}`, "+url=postgres://10.0.0.5:5432"},
	} {
		board, diags := inventory.Parse([]byte(tc.inv), "bundle.hcl")
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		h, _ := board.Host(host)
		load := func(carried map[string]cty.Value) (*engine.Run, hcl.Diagnostics) {
			return engine.Load(engine.Options{
				SiteDir: site, Hosts: []*inventory.Host{h}, Inventory: board, Partial: true, Outputs: carried,
				Dial: func(context.Context, *inventory.Host) (transport.Host, error) { return transport.NewLocal(), nil },
			})
		}
		if _, diags := load(nil); !strings.Contains(diags.Error(), "It reads other hosts' outputs and its bundle carries none") {
			t.Errorf("%s without carried outputs: %v", host, diags)
		}
		r, diags := load(back)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		p, diags := r.Plan(context.Background())
		r.Close()
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		hp := p.Hosts[0]
		if hp.Error != nil || len(hp.Resources) == 0 || !strings.Contains(hp.Resources[0].Diff, tc.want) {
			t.Fatalf("%s: %v %+v, want %q", host, hp.Error, hp.Resources, tc.want)
		}
		if host == "app1" {
			sec := hp.Resources[1]
			if len(sec.Changes) == 0 || !sec.Changes[0].Sensitive || strings.Contains(fmt.Sprintf("%+v", sec), "s3cret") {
				t.Errorf("the carried password is not sensitive on the board: %+v", sec)
			}
		}
	}
}

// What cannot be carried is refused when bundling: a producer whose
// outputs come from a capture.
func TestCarriedOutputsKnownAfterApply(t *testing.T) {
	site := writeSite(t, map[string]string{
		"roles/db/main.hcl": `
capture "id" { command = "cat /etc/machine-id" }
output "id" { value = capture.id.stdout }
`,
		"roles/reader/main.hcl": `
variable "id" { type = string }
file "x" {
  path    = "/nonexistent/x"
  content = var.id
}
`,
		"main.hcl": `
role "db" {
  source  = "./roles/db"
  targets = ["db"]
}
role "reader" {
  source  = "./roles/reader"
  targets = ["front"]
  inputs  = { id = outputs.db["db"].id }
}
`})
	ctl, err := loadOutputs(t, site)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	inv, _ := inventory.Parse([]byte(outputsInventory), "inv.hcl")
	h, _ := inv.Host("front")
	if _, err := ctl.OutputsOf(h); err == nil || !strings.Contains(err.Error(), "it reads outputs.db of db, whose outputs.db it reads from the host (a capture)") {
		t.Errorf("got %v", err)
	}
}
