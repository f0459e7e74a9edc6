package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// Checks warn, per host, with their message; they never stop the run.
func TestChecksWarnPerHost(t *testing.T) {
	site := writeSite(t, map[string]string{
		"main.hcl": `
role "db" {
  source = "./db"
  inputs = { budget_mb = host.name == "b2" ? 9000 : 100 }
}

check "total" {
  assert {
    condition     = try(role.db.budget_mb, 0) + 50 <= 1000
    error_message = "budgets add up to ${try(role.db.budget_mb, 0) + 50} MB"
  }
}

exec "x" {
  command = "true"
}
`,
		"db/main.hcl": `
variable "budget_mb" {
  type = number
}

check "memory" {
  assert {
    condition     = var.budget_mb <= 4096
    error_message = "the database wants ${var.budget_mb} MB"
  }
  assert {
    condition     = var.budget_mb > 0
    error_message = "never shown"
  }
}

output "budget_mb" {
  value = var.budget_mb
}
`,
	})
	hosts := []*inventory.Host{
		{Name: "b1", Address: "localhost", Groups: []string{"all"}},
		{Name: "b2", Address: "localhost", Groups: []string{"all"}},
	}
	r, diags := engine.Load(engine.Options{SiteDir: site, Hosts: hosts,
		Dial: func(context.Context, *inventory.Host) (transport.Host, error) { return transport.NewLocal(), nil }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	defer r.Close()
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary+": "+d.Detail)
	}
	want := []string{
		"Check role.db.check.memory failed: the database wants 9000 MB (host b2)",
		"Check check.total failed: budgets add up to 9050 MB (host b2)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, d := range diags {
		if d.Subject == nil || !strings.HasSuffix(d.Subject.Filename, "main.hcl") {
			t.Errorf("no source range: %v", d)
		}
	}
	p, diags := r.Plan(context.Background())
	if diags.HasErrors() || p.HasErrors() {
		t.Fatalf("a failed check stopped the plan: %v", diags)
	}
}

func TestCheckErrors(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"no assert":  {`check "a" {}`, "Check without assertions"},
		"no message": {"check \"a\" {\n  assert {\n    condition = true\n  }\n}\n", `The argument "error_message" is required`},
		"duplicate":  {"check \"a\" {\n  assert {\n    condition = true\n    error_message = \"x\"\n  }\n}\ncheck \"a\" {\n  assert {\n    condition = true\n    error_message = \"x\"\n  }\n}\n", "Duplicate check"},
	} {
		t.Run(name, func(t *testing.T) {
			site := writeSite(t, map[string]string{"main.hcl": tc.src})
			_, diags := engine.Load(engine.Options{SiteDir: site})
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
				t.Fatalf("diagnostics %v, want %q", diags, tc.want)
			}
		})
	}
}
