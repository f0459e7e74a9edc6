package engine_test

import (
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
	"golang.org/x/crypto/ssh"

	_ "github.com/pinery/pinery/modules/directory"
	_ "github.com/pinery/pinery/modules/exec"
	_ "github.com/pinery/pinery/modules/file"
)

// localRun loads a site against this machine through the local transport:
// the real engine and real modules, changing files under a temp dir.
func localRun(t *testing.T, siteDir string, vars map[string]string) *engine.Run {
	t.Helper()
	host := &inventory.Host{Name: "local", Address: "localhost", Groups: []string{"all"}}
	r, diags := engine.Load(engine.Options{
		SiteDir: siteDir,
		Hosts:   []*inventory.Host{host},
		Inputs:  evalInputs(vars),
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
			return transport.NewLocal(), nil
		},
	})
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	t.Cleanup(r.Close)
	return r
}

func writeSite(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPlanApplyConverges(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{
		"main.hcl": `
variable "root" { type = string }
variable "secret" {
  type      = string
  sensitive = true
}
locals { tree = "${var.root}/srv" }

directory "tree" {
  path = local.tree
}
file "greeting" {
  path    = "${directory.tree.path}/greeting"
  content = templatefile("hello.tmpl", { name = host.name })
}
file "secret" {
  path    = "${directory.tree.path}/secret"
  content = "token=${var.secret}\n"
  mode    = "0600"
}
exec "on_change" {
  command      = "echo ran >> ${var.root}/refreshed"
  refresh_only = true
  watch        = [file.greeting]
}
`,
		"hello.tmpl": "hello ${name}\n",
	})
	vars := map[string]string{"root": target, "secret": "hunter2-very-secret"}

	r := localRun(t, site, vars)
	p, diags := r.Plan(context.Background())
	if diags.HasErrors() || p.HasErrors() {
		t.Fatalf("plan: %v %v", diags, p.Hosts[0].Error)
	}
	var text strings.Builder
	if err := p.WriteText(&text, planStyle()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"+ directory.tree", "+ file.greeting", "+hello local", "+ file.secret", "! exec.on_change (watches file.greeting, which changes)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "hunter2") {
		t.Fatalf("plan shows a sensitive value:\n%s", text.String())
	}
	var js strings.Builder
	if err := p.WriteJSON(&js); err != nil || strings.Contains(js.String(), "hunter2") {
		t.Fatalf("JSON plan: err %v or it shows the secret:\n%s", err, js.String())
	}

	var events []engine.Event
	res := r.Apply(context.Background(), func(e engine.Event) { events = append(events, e) })
	if res[0].Failed != 0 || res[0].Err != nil {
		t.Fatalf("apply: %+v %+v", res, events)
	}
	got, _ := os.ReadFile(filepath.Join(target, "srv/greeting"))
	if string(got) != "hello local\n" {
		t.Errorf("greeting = %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "refreshed")); string(b) != "ran\n" {
		t.Errorf("watch refresh ran %q times", b)
	}
	if st, _ := os.Stat(filepath.Join(target, "srv/secret")); st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secret mode = %v", st)
	}

	// A second run is a no-op costing one session (no facts are used).
	r2 := localRun(t, site, vars)
	p2, _ := r2.Plan(context.Background())
	if p2.HasChanges() || p2.HasErrors() {
		var b strings.Builder
		p2.WriteText(&b, planStyle())
		t.Fatalf("second plan not empty:\n%s", b.String())
	}
	if st := r2.Stats()[0]; st.Connections != 1 || st.Sessions != 1 {
		t.Errorf("no-op plan cost %+v, want 1 connection and 1 session", st)
	}
}

// A failed resource skips its dependents, and only them.
func TestFailureSkipsDependents(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
exec "fails" {
  command = "echo boom >&2; exit 7"
}
file "after" {
  path       = "${var.root}/after"
  content    = "x"
  depends_on = [exec.fails]
}
file "independent" {
  path    = "${var.root}/independent"
  content = "y"
}
`})
	r := localRun(t, site, map[string]string{"root": target})
	if _, diags := r.Plan(context.Background()); diags.HasErrors() {
		t.Fatal(diags)
	}
	status := map[string]engine.Status{}
	var failErr error
	r.Apply(context.Background(), func(e engine.Event) {
		status[e.Addr] = e.Status
		if e.Addr == "exec.fails" {
			failErr = e.Err
		}
	})
	if status["exec.fails"] != engine.StatusFailed || status["file.after"] != engine.StatusSkipped || status["file.independent"] != engine.StatusChanged {
		t.Fatalf("statuses: %v", status)
	}
	if failErr == nil || !strings.Contains(failErr.Error(), "boom") {
		t.Errorf("failure does not quote stderr: %v", failErr)
	}
	if _, err := os.Stat(filepath.Join(target, "after")); err == nil {
		t.Error("a dependent of a failed resource was applied")
	}
}

// A host that cannot be reached is reported with its reason and the others
// are planned.
func TestUnreachableHostDoesNotStopOthers(t *testing.T) {
	site := writeSite(t, map[string]string{"main.hcl": `directory "tmp" { path = "/tmp" }`})
	hosts := []*inventory.Host{{Name: "up"}, {Name: "down"}}
	r, diags := engine.Load(engine.Options{
		SiteDir: site,
		Hosts:   hosts,
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
			if h.Name == "down" {
				return transport.DialSSH(ctx, transport.SSHConfig{Address: "127.0.0.1", Port: 1, User: "root", IdentityFile: writeKey(t), KnownHosts: "/dev/null", ConnectTimeout: time.Second})
			}
			return transport.NewLocal(), nil
		},
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, _ := r.Plan(context.Background())
	if p.Hosts[0].Error != nil || p.Hosts[1].Error == nil {
		t.Fatalf("errors: up=%v down=%v", p.Hosts[0].Error, p.Hosts[1].Error)
	}
	if !strings.Contains(p.Hosts[1].Error.Error(), "connection refused") {
		t.Errorf("reason not named: %v", p.Hosts[1].Error)
	}
}

func planStyle() plan.Style { return plan.Style{} }

func evalInputs(vars map[string]string) eval.Inputs { return eval.Inputs{Vars: vars} }

// writeKey writes a throwaway private key, so that dialing gets as far as
// the network.
func writeKey(t *testing.T) string {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// for_each and count repeat a resource; instances are addressed by key and
// other resources can refer to them.
func TestRepetition(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
variable "sites" {
  type    = map(number)
  default = { blog = 8081, wiki = 8082 }
}
file "conf" {
  for_each = var.sites
  path     = "${var.root}/${each.key}.conf"
  content  = "listen ${each.value};\n"
}
file "part" {
  count   = 2
  path    = "${var.root}/part${count.index}"
  content = "part ${count.index}\n"
}
file "index" {
  path    = "${var.root}/index"
  content = join(",", [for k, f in file.conf : f.path], [file.part[1].path])
}
file "arm_only" {
  when    = host.name == "not-this-host"
  path    = "${var.root}/arm"
  content = "x"
}
`})
	r := localRun(t, site, map[string]string{"root": target})
	p, diags := r.Plan(context.Background())
	if diags.HasErrors() || p.HasErrors() {
		t.Fatalf("plan: %v", diags)
	}
	var addrs []string
	for _, rp := range p.Hosts[0].Resources {
		addrs = append(addrs, rp.Addr)
	}
	want := `file.conf["blog"] file.conf["wiki"] file.part[0] file.part[1] file.index`
	if strings.Join(addrs, " ") != want {
		t.Fatalf("instances %q, want %q", strings.Join(addrs, " "), want)
	}
	if res := r.Apply(context.Background(), nil); res[0].Failed != 0 {
		t.Fatalf("apply: %+v", res)
	}
	b, _ := os.ReadFile(filepath.Join(target, "index"))
	if string(b) != target+"/blog.conf,"+target+"/wiki.conf,"+target+"/part1" {
		t.Errorf("index = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "wiki.conf")); string(b) != "listen 8082;\n" {
		t.Errorf("wiki.conf = %q", b)
	}
	if _, err := os.Stat(filepath.Join(target, "arm")); err == nil {
		t.Error("a resource excluded by when was applied")
	}
}

// Files are probed in one batch: a hundred of them cost one session, and a
// path that cannot be a file fails alone.
func TestBatchedProbe(t *testing.T) {
	target := t.TempDir()
	if err := os.Mkdir(filepath.Join(target, "f7"), 0o755); err != nil {
		t.Fatal(err)
	}
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
file "f" {
  count   = 100
  path    = "${var.root}/f${count.index}"
  content = "file ${count.index}\n"
}
`})
	vars := map[string]string{"root": target}
	r := localRun(t, site, vars)
	p, diags := r.Plan(context.Background())
	if diags.HasErrors() || p.Hosts[0].Error != nil {
		t.Fatalf("plan: %v %v", diags, p.Hosts[0].Error)
	}
	var creates, failed int
	for _, rp := range p.Hosts[0].Resources {
		switch {
		case rp.Error != nil:
			failed++
			if rp.Addr != "file.f[7]" {
				t.Errorf("%s failed: %v", rp.Addr, rp.Error)
			}
		case rp.Action == resource.Create:
			creates++
		}
	}
	if creates != 99 || failed != 1 {
		t.Errorf("plan: %d creates and %d failures, want 99 and 1", creates, failed)
	}
	if st := r.Stats()[0]; st.Sessions != 1 {
		t.Errorf("plan of 100 files cost %d sessions, want 1", st.Sessions)
	}
	// The 99 files are written together, in one more session, which also
	// takes the host's lock; one more releases it.
	res := r.Apply(context.Background(), nil)
	if res[0].Changed != 99 || res[0].Failed != 1 {
		t.Errorf("apply: %+v, want 99 changed and 1 failed", res[0])
	}
	if st := r.Stats()[0]; st.Sessions != 3 {
		t.Errorf("plan and apply of 100 files cost %d sessions, want 3 (probe, lock and files, unlock)", st.Sessions)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "f99")); string(b) != "file 99\n" {
		t.Errorf("f99 = %q", b)
	}
}

// Changes applied together keep the order of the plan: files that rely on
// directories declared before them (Salt's declaration order, no explicit
// dependency) are not pulled ahead of those directories by an earlier file.
func TestAggregationKeepsDeclarationOrder(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
file "first" {
  path    = "${var.root}/first"
  content = "1\n"
}
directory "sub" {
  path = "${var.root}/sub"
}
file "inside" {
  count   = 3
  path    = "${var.root}/sub/f${count.index}"
  content = "x\n"
}
`})
	r := localRun(t, site, map[string]string{"root": target})
	planText(t, r)
	if res, ev := applyAll(t, r); res.Failed != 0 || res.Changed != 5 {
		t.Fatalf("apply: %+v %+v", res, ev)
	}
	// probe, lock and first, sub, the three files together, unlock.
	if st := r.Stats()[0]; st.Sessions != 5 {
		t.Errorf("%d sessions, want 5", st.Sessions)
	}
}
