package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// Every host sees the whole inventory (not only the selected hosts): other
// hosts' addresses and variables, groups, and the hosts each role targets;
// a role sees it too. This is how a front proxy lists its upstreams.
func TestInventoryObject(t *testing.T) {
	inv, diags := inventory.Parse([]byte(`
host "front" { address = "127.0.0.1" }
host "r1" {
  address = "10.0.0.21"
  vars    = { port = 8081 }
}
host "r2" {
  address = "10.0.0.22"
  vars    = { port = 8082 }
}
group "render" { hosts = ["r[1:2]"] }
`), "inv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	target := t.TempDir()
	site := writeSite(t, map[string]string{
		"roles/proxy/main.hcl": `
variable "root" { type = string }
file "upstreams" {
  path    = "${var.root}/upstreams"
  content = join("\n", [for n in inventory.roles.worker : "${inventory.hosts[n].address}:${inventory.hosts[n].vars.port}"])
}
`,
		"roles/worker/main.hcl": `file "w" {
  path    = "/nonexistent/never-applied"
  content = "x"
}
`,
		"main.hcl": `
variable "root" { type = string }
role "proxy" {
  source  = "./roles/proxy"
  targets = ["front"]
  inputs  = { root = var.root }
}
role "worker" {
  source  = "./roles/worker"
  targets = ["render"]
}
file "groups" {
  path    = "${var.root}/groups"
  content = "${join(",", inventory.groups.render)} ${length(inventory.groups.all)}"
}
`})
	front, _ := inv.Host("front")
	r, diags := engine.Load(engine.Options{
		SiteDir:   site,
		Hosts:     []*inventory.Host{front}, // only the front host is selected
		Inventory: inv,
		Inputs:    evalInputs(map[string]string{"root": target}),
		Dial: func(context.Context, *inventory.Host) (transport.Host, error) {
			return transport.NewLocal(), nil
		},
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	defer r.Close()
	if _, diags := r.Plan(context.Background()); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if res := r.Apply(context.Background(), func(engine.Event) {}); res[0].Failed != 0 {
		t.Fatalf("apply: %+v", res)
	}
	for file, want := range map[string]string{
		"upstreams": "10.0.0.21:8081\n10.0.0.22:8082",
		"groups":    "r1,r2 3",
	} {
		if b, _ := os.ReadFile(filepath.Join(target, file)); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
	}
}
