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

// stagedRun plans a staged site on local "hosts" b1..b3: a database role
// on b1, an app role on b2 and b3, a proxy role on b1, and a resource of
// the site's own on every host. Every resource appends "what host" to one
// log, so the log is the order in which the fleet was changed. The app
// fails on the hosts named in fail.
func stagedRun(t *testing.T, fail string) (*engine.Run, string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "log")
	step := func(what string) string {
		return fmt.Sprintf(`exec "step" {
  command = "echo %s ${host.name} >> %s"
}
`, what, log)
	}
	site := writeSite(t, map[string]string{
		"main.hcl": step("base") + `
role "db" {
  source  = "./db"
  targets = ["b1"]
}
role "app" {
  source  = "./app"
  targets = ["b2", "b3"]
}
role "proxy" {
  source  = "./proxy"
  targets = ["b1"]
}

stage "database" {
  roles = [role.db]
}
stage "apps" {
  roles = [role.app]
  rollout {
    batch = 1
  }
}
stage "front" {
  roles = [role.proxy]
}
`,
		"db/main.hcl":    step("db"),
		"proxy/main.hcl": step("proxy"),
		"app/main.hcl": fmt.Sprintf(`exec "step" {
  command = contains(split(",", %q), host.name) ? "exit 1" : "echo app ${host.name} >> %s"
}
`, fail, log),
	})
	var hosts []*inventory.Host
	for i := 1; i <= 3; i++ {
		hosts = append(hosts, &inventory.Host{Name: fmt.Sprintf("b%d", i), Address: "localhost", Groups: []string{"all"}})
	}
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
	return r, log
}

func stageLog(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestStagesApplyInOrder(t *testing.T) {
	r, log := stagedRun(t, "")
	stages := r.Stages(engine.Rollout{})
	var got []string
	for _, s := range stages {
		got = append(got, s.Name+"="+strings.Join(s.Hosts, ","))
	}
	if want := "unstaged=b1,b2,b3 database=b1 apps=b2,b3 front=b1"; strings.Join(got, " ") != want {
		t.Fatalf("stages %v, want %s", got, want)
	}
	res := r.ApplyStages(context.Background(), stages, nil, nil, nil)
	if res.Halted {
		t.Fatalf("halted: %s", res.Reason)
	}
	if got, want := outcomes(res), "b1:applied b2:applied b3:applied"; got != want {
		t.Errorf("outcomes %s, want %s", got, want)
	}
	lines := stageLog(t, log)
	// The unstaged resources run on the hosts in parallel: any order.
	if len(lines) != 7 {
		t.Fatalf("log %q", lines)
	}
	base := append([]string(nil), lines[:3]...)
	for _, l := range base {
		if !strings.HasPrefix(l, "base ") {
			t.Fatalf("the site's own resources should come first: %q", lines)
		}
	}
	if got, want := strings.Join(lines[3:], "|"), "db b1|app b2|app b3|proxy b1"; got != want {
		t.Errorf("order %s\nwant  %s", got, want)
	}
}

func TestFailedStageStopsTheLaterOnes(t *testing.T) {
	r, log := stagedRun(t, "b2")
	res := r.ApplyStages(context.Background(), r.Stages(engine.Rollout{}), nil, nil, nil)
	if !res.Halted || !strings.Contains(res.Reason, "stage apps") {
		t.Fatalf("halted %v: %s", res.Halted, res.Reason)
	}
	// b1 waits for the front stage: untouched, so --resume comes back to
	// it; b3 comes after b2 in the apps stage's batches.
	if got, want := outcomes(res), "b1:untouched b2:failed b3:untouched"; got != want {
		t.Errorf("outcomes %s, want %s", got, want)
	}
	for _, l := range stageLog(t, log) {
		if strings.HasPrefix(l, "proxy") || l == "app b3" {
			t.Errorf("ran after the failed stage: %q", l)
		}
	}
}

func TestStageDiagnostics(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"undeclared role": {`stage "a" { roles = [role.nope] }`, "Reference to undeclared role"},
		"not a role":      {`stage "a" { roles = ["web"] }`, "Invalid stage role"},
		"bad batch": {`
role "web" {
  source = "./web"
}
stage "a" {
  roles = [role.web]
  rollout {
    batch = "lots"
  }
}`, "Invalid stage rollout"},
		"drain without undo": {`
role "web" {
  source = "./web"
}
stage "a" {
  roles = [role.web]
  rollout {
    drain {
      via     = "front"
      command = "pinery-front drain {address}"
    }
  }
}`, `The argument "undo" is required`},
		"drain with an empty undo": {`
role "web" {
  source = "./web"
}
stage "a" {
  roles = [role.web]
  rollout {
    drain {
      command = "pinery-front drain {address}"
      undo    = ""
    }
  }
}`, "drain: a drain needs both its command and its undo command"},
		"role twice": {`
role "web" {
  source = "./web"
}
stage "a" { roles = [role.web] }
stage "b" { roles = [role.web] }
`, "Role in two stages"},
	} {
		t.Run(name, func(t *testing.T) {
			site := writeSite(t, map[string]string{"main.hcl": tc.src, "web/main.hcl": `exec "x" { command = "true" }`})
			_, diags := engine.Load(engine.Options{SiteDir: site})
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
				t.Fatalf("diagnostics %v, want %q", diags, tc.want)
			}
			if !strings.Contains(diags.Error(), "main.hcl:") {
				t.Errorf("no source position: %v", diags)
			}
		})
	}
}
