package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"

	_ "github.com/pinery/pinery/modules/capture"
)

const outputsInventory = `
host "front" { address = "10.0.0.2" }
host "app1" { address = "10.0.0.11" }
host "app2" { address = "10.0.0.12" }
host "db"   { address = "10.0.0.5" }
group "apps" { hosts = ["app1", "app2"] }
`

// frontRole lists its upstreams, one per line.
const frontRole = `
variable "upstreams" { type = list(string) }
file "conf" {
  path    = "/nonexistent/front.conf"
  content = join("\n", var.upstreams)
}
`

// outputsSite: the apps read the database's outputs, the front node reads
// the apps' (and so comes after them).
func outputsSite(t *testing.T, extra string) string {
	return writeSite(t, map[string]string{
		"roles/db/main.hcl": `
variable "name" { type = string }
output "dsn" { value = "postgres://${host.address}:5432/${var.name}" }
`,
		"roles/app/main.hcl": `
variable "dsn" { type = string }
file "conf" {
  path    = "/nonexistent/app.conf"
  content = "dsn=${var.dsn}\n"
}
output "upstream" { value = "${host.address}:8080" }
`,
		"roles/front/main.hcl": frontRole,
		"main.hcl": `
role "db" {
  source  = "./roles/db"
  targets = ["db"]
  inputs  = { name = "synapse" }
}
role "app" {
  source  = "./roles/app"
  targets = ["apps"]
  inputs  = { dsn = outputs.db["db"].dsn }
}
role "front" {
  source  = "./roles/front"
  targets = ["front"]
  inputs  = { upstreams = [for h, o in outputs.app : o.upstream] }
}
` + extra})
}

func loadOutputs(t *testing.T, site string, selected ...string) (*engine.Run, error) {
	t.Helper()
	inv, diags := inventory.Parse([]byte(outputsInventory), "inv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var hosts []*inventory.Host
	for _, name := range selected {
		h, _ := inv.Host(name)
		hosts = append(hosts, h)
	}
	r, diags := engine.Load(engine.Options{
		SiteDir: site, Hosts: hosts, Inventory: inv,
		Dial: func(context.Context, *inventory.Host) (transport.Host, error) { return transport.NewLocal(), nil },
	})
	if diags.HasErrors() {
		return r, errors.New(diags.Error())
	}
	return r, nil
}

func TestOutputsAcrossHosts(t *testing.T) {
	r, err := loadOutputs(t, outputsSite(t, ""), "db", "app1", "app2", "front")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for _, l := range r.HostOrder() {
		got = append(got, strings.Join(l.Hosts, ",")+" "+strings.Join(l.Reads, ","))
	}
	want := []string{"db ", "app1,app2 outputs.db of db", "front outputs.app of app1,outputs.app of app2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("host order:\n got %q\nwant %q", got, want)
	}
	p, diags := r.Plan(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	diffs := map[string]string{}
	for _, hp := range p.Hosts {
		if hp.Error != nil {
			t.Fatalf("%s: %v", hp.Host, hp.Error)
		}
		for _, rp := range hp.Resources {
			diffs[hp.Host] += rp.Diff
		}
	}
	for host, want := range map[string]string{
		"app1":  "+dsn=postgres://10.0.0.5:5432/synapse",
		"app2":  "+dsn=postgres://10.0.0.5:5432/synapse",
		"front": "+10.0.0.11:8080\n+10.0.0.12:8080",
	} {
		if !strings.Contains(diffs[host], want) {
			t.Errorf("%s's plan lacks %q:\n%s", host, want, diffs[host])
		}
	}
}

// A host outside the run is evaluated from the site alone for its outputs:
// planning app1 alone still gives it the database's address.
func TestOutputsOfHostOutsideRun(t *testing.T) {
	r, err := loadOutputs(t, outputsSite(t, ""), "app1")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.HostOrder() != nil {
		t.Errorf("one host has no order to tell: %+v", r.HostOrder())
	}
	p, diags := r.Plan(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if hp := p.Hosts[0]; hp.Error != nil || !strings.Contains(hp.Resources[0].Diff, "postgres://10.0.0.5:5432/synapse") {
		t.Errorf("app1: %v %+v", hp.Error, hp.Resources)
	}
}

func TestOutputsErrors(t *testing.T) {
	for _, tc := range []struct{ name, extra, want string }{
		{"cycle", `
role "back" {
  source  = "./roles/front"
  targets = ["db"]
  inputs  = { upstreams = [outputs.front["front"].x] }
}
role "front2" {
  source  = "./roles/db"
  targets = ["front"]
  inputs  = { name = outputs.back["db"].y }
}
`, "Cycle between hosts; Each of these hosts would have to be applied before the other: db reads outputs.front of front"},
		{"undeclared", `
file "x" {
  path    = "/nonexistent/x"
  content = outputs.nope["db"].dsn
}
`, `the site declares no role "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadOutputs(t, outputsSite(t, tc.extra), "db", "app1", "front")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}

// Apply follows the reads: the database host first, the apps next, the
// front node last; a failed database holds back its readers, and theirs.
func TestOutputsApplyOrder(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprint("db fails ", fail), func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "log")
			cmd := fmt.Sprintf("echo ${host.name} >> %s", log)
			dbCmd := cmd
			if fail {
				dbCmd = "exit 1"
			}
			site := writeSite(t, map[string]string{
				"roles/db/main.hcl":    fmt.Sprintf("exec \"mark\" { command = %q }\noutput \"dsn\" { value = \"db\" }\n", dbCmd),
				"roles/app/main.hcl":   fmt.Sprintf("variable \"dsn\" { type = string }\nexec \"mark\" { command = %q }\noutput \"upstream\" { value = host.name }\n", cmd),
				"roles/front/main.hcl": fmt.Sprintf("variable \"upstreams\" { type = list(string) }\nexec \"mark\" { command = %q }\n", cmd),
				"main.hcl": `
role "front" {
  source  = "./roles/front"
  targets = ["front"]
  inputs  = { upstreams = [for h, o in outputs.app : o.upstream] }
}
role "app" {
  source  = "./roles/app"
  targets = ["apps"]
  inputs  = { dsn = outputs.db["db"].dsn }
}
role "db" {
  source  = "./roles/db"
  targets = ["db"]
}
`})
			r, err := loadOutputs(t, site, "front", "app1", "app2", "db")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, diags := r.Plan(context.Background()); diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			var batches []string
			res := r.ApplyRollout(context.Background(), engine.Rollout{}, func(b engine.Batch) {
				batches = append(batches, strings.Join(b.Hosts, ","))
			}, nil)
			b, _ := os.ReadFile(log)
			lines := strings.Fields(string(b))
			if !fail {
				if got := strings.Join(batches, " "); got != "db app1,app2 front" {
					t.Errorf("batches %q", got)
				}
				if len(lines) != 4 || lines[0] != "db" || lines[3] != "front" {
					t.Errorf("applied in the order %q", lines)
				}
				return
			}
			if got := strings.Join(batches, " "); got != "db" {
				t.Errorf("batches %q, want only db's", got)
			}
			if len(lines) != 0 {
				t.Errorf("applied %q after the database failed", lines)
			}
			for i, want := range map[int]string{0: "it reads outputs.app of app1, which was not applied", 1: "it reads outputs.db of db, whose apply failed"} {
				if res.Outcomes[i] != engine.OutcomeUntouched || res.Results[i].Err == nil || res.Results[i].Err.Error() != want {
					t.Errorf("%s: %s %v, want untouched: %s", res.Results[i].Host, res.Outcomes[i], res.Results[i].Err, want)
				}
			}
		})
	}
}

// A value read on one host (a capture) reaches the hosts that read its
// role's outputs: known after apply on the first run (the key is made by
// the apply), planned and applied after the producer; known at plan time
// on the next.
func TestCaptureKnownAfterApply(t *testing.T) {
	dir := t.TempDir()
	site := writeSite(t, map[string]string{
		"roles/gen/main.hcl": fmt.Sprintf(`
exec "keygen" {
  command = "echo key-$$$$ > %[1]s/key"
  creates = "%[1]s/key"
}
capture "key" {
  command    = "cat %[1]s/key"
  depends_on = [exec.keygen]
}
output "key" { value = capture.key.stdout }
`, dir),
		"roles/use/main.hcl": fmt.Sprintf(`
variable "keys" { type = list(string) }
file "keys" {
  path    = "%s/keys-${host.name}"
  content = join("\n", var.keys)
}
`, dir),
		"main.hcl": `
role "gen" {
  source  = "./roles/gen"
  targets = ["db"]
}
role "use" {
  source  = "./roles/use"
  targets = ["apps"]
  inputs  = { keys = [for h, o in outputs.gen : o.key] }
}
`})
	run := func() (*engine.Run, string) {
		r, err := loadOutputs(t, site, "app1", "db")
		if err != nil {
			t.Fatal(err)
		}
		p, diags := r.Plan(context.Background())
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		var b strings.Builder
		p.WriteText(&b, plan.Style{})
		return r, b.String()
	}
	r, text := run()
	if !strings.Contains(text, "host app1: known after apply: content of role.use.file.keys is known only after db is applied; planned and applied then") || !strings.Contains(text, "1 host(s) known after apply") {
		t.Fatalf("first plan:\n%s", text)
	}
	res := r.ApplyRollout(context.Background(), engine.Rollout{}, nil, nil)
	r.Close()
	for _, h := range res.Results {
		if h.Err != nil || h.Failed > 0 {
			t.Fatalf("apply: %+v", res.Results)
		}
	}
	key, _ := os.ReadFile(filepath.Join(dir, "key"))
	got, _ := os.ReadFile(filepath.Join(dir, "keys-app1"))
	if len(key) < 5 || string(got) != strings.TrimSpace(string(key)) {
		t.Fatalf("app1 got %q, db made %q", got, key)
	}
	r, text = run()
	defer r.Close()
	if strings.Contains(text, "known after apply") || !strings.Contains(text, "host app1: no changes") {
		t.Errorf("second plan:\n%s", text)
	}
}

// A capture's value cannot configure its own host: it is read in the
// probe the host's resources are planned with.
func TestCaptureSameHost(t *testing.T) {
	site := writeSite(t, map[string]string{"main.hcl": `
capture "x" { command = "echo x" }
file "y" {
  path    = "/nonexistent/y"
  content = capture.x.stdout
}
`})
	_, err := loadOutputs(t, site, "db")
	if err == nil || !strings.Contains(err.Error(), "Value read from the same host") {
		t.Fatalf("got %v", err)
	}
}

// With stages, a host known only after apply waits for the stage that
// applies its producer, however early its own resources' stage comes.
func TestCaptureAcrossStages(t *testing.T) {
	dir := t.TempDir()
	site := writeSite(t, map[string]string{
		"roles/gen/main.hcl": fmt.Sprintf(`
exec "make" {
  command = "echo made > %[1]s/value"
  creates = "%[1]s/value"
}
capture "value" {
  command    = "cat %[1]s/value"
  depends_on = [exec.make]
}
output "value" { value = capture.value.stdout }
`, dir),
		"roles/use/main.hcl": fmt.Sprintf(`
variable "v" { type = string }
file "got" {
  path    = "%s/got-${host.name}"
  content = var.v
}
`, dir),
		"main.hcl": fmt.Sprintf(`
role "gen" {
  source  = "./roles/gen"
  targets = ["db"]
}
role "use" {
  source  = "./roles/use"
  targets = ["apps"]
  inputs  = { v = outputs.gen["db"].value }
}
file "early" {
  path    = "%s/early-${host.name}"
  content = "x"
}
stage "gen" {
  roles = [role.gen]
}
stage "use" {
  roles = [role.use]
}
`, dir)})
	r, err := loadOutputs(t, site, "app1", "db")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, diags := r.Plan(context.Background()); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	res := r.ApplyStages(context.Background(), r.Stages(engine.Rollout{}), nil, nil, nil)
	for i, h := range res.Results {
		if h.Err != nil || h.Failed > 0 || res.Outcomes[i] != engine.OutcomeApplied {
			t.Fatalf("apply: %s %+v (all: %+v)", res.Outcomes[i], h, res.Results)
		}
	}
	for file, want := range map[string]string{"got-app1": "made", "early-app1": "x", "early-db": "x"} {
		if b, _ := os.ReadFile(filepath.Join(dir, file)); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
	}
}

// The front node alone: the apps it reads are outside the run, and so is
// the database they read: evaluated in turn, from the site.
func TestOutputsChainOutsideRun(t *testing.T) {
	r, err := loadOutputs(t, outputsSite(t, ""), "front")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, diags := r.Plan(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if hp := p.Hosts[0]; hp.Error != nil || !strings.Contains(hp.Resources[0].Diff, "+10.0.0.11:8080\n+10.0.0.12:8080") {
		t.Errorf("front: %v %+v", hp.Error, hp.Resources)
	}
}
