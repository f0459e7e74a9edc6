package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

const webRole = `
variable "root" { type = string }
variable "port" {
  type    = number
  default = 80
  validation {
    condition     = var.port > 0 && var.port < 65536
    error_message = "port is a TCP port."
  }
}
variable "token" {
  type      = string
  default   = ""
  sensitive = true
}
variable "from" {
  type    = string
  default = ""
}
locals { dir = "${var.root}/web" }
directory "root" {
  path = local.dir
}
file "conf" {
  path    = "${directory.root.path}/conf"
  content = "listen ${var.port}\n"
}
file "token" {
  path    = "${directory.root.path}/token"
  content = "${var.token}\n"
}
exec "reload" {
  command      = "echo reload >> ${var.root}/log"
  refresh_only = true
  watch        = [file.conf]
}
file "where" {
  path    = "${directory.root.path}/where"
  content = "${path.module} ${path.root} ${var.from}\n"
}
output "conf_path" {
  value = file.conf.path
}
`

// A role is included twice with different inputs, once on a host it does
// not target; its resources are addressed under role.NAME, see their own
// names, and its outputs reach the site.
func TestRoles(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{
		"roles/web/main.hcl": webRole,
		"main.hcl": `
variable "root" { type = string }
variable "secret" {
  type      = string
  sensitive = true
}
role "a" {
  source = "./roles/web"
  inputs = { root = "${var.root}/a", port = 8080, token = var.secret, from = path.module }
}
role "b" {
  source  = "./roles/web"
  targets = ["web"]
  inputs  = { root = "${var.root}/b" }
}
role "c" {
  source  = "./roles/web"
  targets = ["local"]
  inputs  = { root = "${var.root}/c" }
}
file "summary" {
  path    = "${var.root}/summary"
  content = "a at ${role.a.conf_path}\n"
}
`})
	r := localRun(t, site, map[string]string{"root": target, "secret": "hunter2-in-role"})
	text := planText(t, r)
	for _, want := range []string{"+ role.a.directory.root", "+ role.a.file.conf", "+listen 8080", "+ role.c.file.conf", "+listen 80", "+ file.summary", "+a at " + target + "/a/web/conf", "! role.a.exec.reload (watches role.a.file.conf, which changes)"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "role.b.") || strings.Contains(text, "hunter2") {
		t.Errorf("plan shows role b (not targeted) or the secret:\n%s", text)
	}
	if res, ev := applyAll(t, r); res.Failed != 0 {
		t.Fatalf("apply: %+v %+v", res, ev)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "a/web/token")); string(b) != "hunter2-in-role\n" {
		t.Errorf("token = %q", b)
	}
	// path.module is the role's directory inside the role, the site's in the site.
	if b, _ := os.ReadFile(filepath.Join(target, "a/web/where")); string(b) != fmt.Sprintf("%s/roles/web %s %s\n", site, site, site) {
		t.Errorf("path.* in a role = %q (site %s)", b, site)
	}
	if _, err := os.Stat(filepath.Join(target, "b")); err == nil {
		t.Error("role b was applied to a host it does not target")
	}
	if text := planText(t, localRun(t, site, map[string]string{"root": target, "secret": "hunter2-in-role"})); !strings.Contains(text, "no changes") {
		t.Errorf("second plan:\n%s", text)
	}
}

// Role targets are inventory selectors.
func TestRoleTargetsUseInventory(t *testing.T) {
	inv, diags := inventory.Parse([]byte(`
host "b1" { address = "127.0.0.1" }
host "b2" { address = "127.0.0.1" }
group "arm" { hosts = ["b[1:1]"] }
`), "inv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	target := t.TempDir()
	site := writeSite(t, map[string]string{
		"roles/web/main.hcl": webRole,
		"main.hcl": `
variable "root" { type = string }
role "w" {
  source  = "./roles/web"
  targets = ["arm:!b2"]
  inputs  = { root = "${var.root}/${host.name}" }
}
`})
	r, diags := engine.Load(engine.Options{
		SiteDir:   site,
		Hosts:     inv.Hosts,
		Inventory: inv,
		Inputs:    evalInputs(map[string]string{"root": target}),
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
			return transport.NewLocal(), nil
		},
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	defer r.Close()
	p, _ := r.Plan(context.Background())
	got := map[string]int{}
	for _, h := range p.Hosts {
		got[h.Host] = h.Counts().Changed()
	}
	if got["b1"] == 0 || got["b2"] != 0 {
		t.Errorf("changes per host %v: want some on b1 (arm) and none on b2", got)
	}
}

// Bad role calls: each is a diagnostic with its place and a way out, all in
// one run.
func TestRoleErrors(t *testing.T) {
	for name, tc := range map[string]struct{ site, want string }{
		"missing dir":   {`role "x" { source = "./roles/nope" }`, "main.hcl:1,21-35: Role not found; There is no directory"},
		"library":       {`role "x" { source = "nope" }`, `No role "nope" in the state library`},
		"bad source":    {`role "x" { source = "a b" }`, "neither a path"},
		"missing input": {`role "x" { source = "./roles/web" }`, `needs the input "root"`},
		"unknown input": {`role "x" {
  source = "./roles/web"
  inputs = { root = "/r", prot = 1 }
}`, `main.hcl:3,12-37: Unknown role input; Role x (./roles/web) has no input "prot"`},
		"wrong type": {`role "x" {
  source = "./roles/web"
  inputs = { root = "/r", port = "http" }
}`, `Input "port" of role x must be number`},
		"validation": {`role "x" {
  source = "./roles/web"
  inputs = { root = "/r", port = 70000 }
}`, "port is a TCP port. (input of role x)"},
		"duplicate": {`role "x" {
  source = "./roles/web"
  inputs = { root = "/r" }
}
role "x" {
  source = "./roles/web"
  inputs = { root = "/s" }
}`, "Duplicate role"},
		"output in site":       {`output "o" { value = 1 }`, "Output outside a role"},
		"role includes itself": {`role "x" { source = "./roles/loop" }`, "Role includes itself"},
		"undeclared role": {`file "f" {
  path       = "/f"
  content    = "x"
  depends_on = [role.nope]
}`, "refers to role.nope, which is not declared"},
	} {
		t.Run(name, func(t *testing.T) {
			site := writeSite(t, map[string]string{"roles/web/main.hcl": webRole, "main.hcl": tc.site,
				"roles/loop/main.hcl": `role "again" { source = "../loop" }`})
			r, diags := engine.Load(engine.Options{
				SiteDir: site,
				Hosts:   []*inventory.Host{{Name: "local", Address: "localhost", Groups: []string{"all"}}},
				Dial: func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
					return transport.NewLocal(), nil
				},
			})
			if !diags.HasErrors() {
				r.Close()
				t.Fatalf("no error")
			}
			if !strings.Contains(diags.Error(), tc.want) {
				t.Errorf("got %s\nwant %q", diags.Error(), tc.want)
			}
		})
	}
}

// A site resource can watch a whole role: it refreshes when any resource of
// the role changes, after all of them.
func TestWatchRole(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{
		"roles/web/main.hcl": webRole,
		"main.hcl": `
variable "root" { type = string }
variable "port" { type = number }
role "a" {
  source = "./roles/web"
  inputs = { root = var.root, port = var.port }
}
exec "announce" {
  command      = "echo changed >> ${var.root}/announced"
  refresh_only = true
  watch        = [role.a]
}
`})
	vars := map[string]string{"root": target, "port": "80"}
	r := localRun(t, site, vars)
	if text := planText(t, r); !strings.Contains(text, "! exec.announce (watches role.a.directory.root, which changes; watches role.a.file.conf, which changes") {
		t.Errorf("plan:\n%s", text)
	}
	if res, ev := applyAll(t, r); res.Failed != 0 {
		t.Fatalf("apply: %+v %+v", res, ev)
	}
	vars["port"] = "81"
	r = localRun(t, site, vars)
	if text := planText(t, r); !strings.Contains(text, "! exec.announce (watches role.a.file.conf, which changes; watches role.a.exec.reload, which changes)") {
		t.Errorf("plan after a port change:\n%s", text)
	}
	if res, ev := applyAll(t, r); res.Failed != 0 {
		t.Fatalf("apply: %+v %+v", res, ev)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "announced")); string(b) != "changed\nchanged\n" {
		t.Errorf("announced %q, want two refreshes", b)
	}
}

// A role includes another: the inner role's inputs come from the outer
// role's scope, its paths are relative to the outer role, its resources are
// addressed under both, the outer role's outputs may use the inner role's,
// and naming the outer role in depends_on waits for the inner one too.
// Targets narrow: an inner role applies only where the outer one does.
func TestNestedRoles(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{
		"roles/app/main.hcl": `
variable "root" { type = string }
role "db" {
  source = "./roles/db"
  inputs = { dir = "${var.root}/db", tag = "for-app" }
}
role "never" {
  source  = "./roles/db"
  targets = ["nobody"]
  inputs  = { dir = "${var.root}/never", tag = "x" }
}
file "app" {
  path    = "${var.root}/app"
  content = "db at ${role.db.conf}\n"
}
output "db_conf" { value = role.db.conf }
`,
		"roles/app/roles/db/main.hcl": `
variable "dir" { type = string }
variable "tag" { type = string }
directory "d" { path = var.dir }
file "conf" {
  path    = "${directory.d.path}/conf"
  content = "${var.tag}\n"
}
output "conf" { value = file.conf.path }
`,
		"main.hcl": `
variable "root" { type = string }
role "app" {
  source = "./roles/app"
  inputs = { root = var.root }
}
file "after" {
  path       = "${var.root}/after"
  content    = "${role.app.db_conf}\n"
  depends_on = [role.app]
}
`})
	r := localRun(t, site, map[string]string{"root": target})
	text := planText(t, r)
	for _, want := range []string{"+ role.app.role.db.directory.d", "+ role.app.role.db.file.conf", "+for-app", "+ role.app.file.app", "+db at " + target + "/db/conf", "+ file.after", "+" + target + "/db/conf"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "role.app.role.never") {
		t.Errorf("an inner role that targets no host was planned:\n%s", text)
	}
	// depends_on = [role.app] orders file.after after the inner role too.
	var order []string
	res := r.Apply(context.Background(), func(e engine.Event) {
		if e.Status == engine.StatusChanged {
			order = append(order, e.Addr)
		}
	})
	if res[0].Failed != 0 {
		t.Fatalf("apply: %+v", res)
	}
	pos := map[string]int{}
	for i, a := range order {
		pos[a] = i
	}
	if pos["file.after"] < pos["role.app.role.db.file.conf"] || len(order) != 4 {
		t.Errorf("apply order %v: file.after must come after the inner role's resources", order)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "db/conf")); string(b) != "for-app\n" {
		t.Errorf("inner role's file = %q", b)
	}
}
