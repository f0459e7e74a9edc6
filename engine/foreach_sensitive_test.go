package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// for_each keys name instances in plans and events: sensitive keys are an
// error, sensitive values only are fine (and stay hidden), and
// nonsensitive() says the keys are safe to show.
func TestSensitiveForEach(t *testing.T) {
	const vars = `
variable "root" { type = string }
variable "names" {
  type      = set(string)
  sensitive = true
  default   = ["hunter2-key"]
}
variable "tokens" {
  type      = map(string)
  sensitive = true
  default   = { api = "hunter2-value" }
}
`
	for name, tc := range map[string]struct {
		forEach, want string
	}{
		"sensitive set":         {"var.names", "Sensitive for_each"},
		"sensitive map":         {"var.tokens", "Sensitive for_each"},
		"keys declared safe":    {"{ for k in nonsensitive(keys(var.tokens)) : k => var.tokens[k] }", `file.t["api"]`},
		"sensitive values only": {`{ api = var.tokens["api"] }`, `file.t["api"]`},
	} {
		t.Run(name, func(t *testing.T) {
			site := writeSite(t, map[string]string{"main.hcl": vars + `
file "t" {
  for_each = ` + tc.forEach + `
  path     = "${var.root}/${each.key}"
  content  = "${each.value}\n"
}
`})
			host := &inventory.Host{Name: "local", Address: "localhost", Groups: []string{"all"}}
			r, diags := engine.Load(engine.Options{
				SiteDir: site, Hosts: []*inventory.Host{host}, Inputs: evalInputs(map[string]string{"root": t.TempDir()}),
				Dial: func(context.Context, *inventory.Host) (transport.Host, error) { return transport.NewLocal(), nil },
			})
			var b strings.Builder
			if !diags.HasErrors() {
				defer r.Close()
				var p *plan.Plan
				p, diags = r.Plan(context.Background())
				if err := p.WriteText(&b, planStyle()); err != nil {
					t.Fatal(err)
				}
			}
			out := diags.Error() + b.String()
			if !strings.Contains(out, tc.want) {
				t.Errorf("want %q in:\n%s", tc.want, out)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("a secret shows:\n%s", out)
			}
		})
	}
}
