package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// With a facts cache, a site that reads facts plans in one command session
// once the host's facts are known; facts that changed since are noticed in
// that session and the host is evaluated and probed again with them.
func TestFactsCacheOneSession(t *testing.T) {
	target := t.TempDir()
	cache := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
file "mem" {
  path    = "${var.root}/mem"
  content = "${fact.memory_mb}\n"
}
`})
	var conns []*transport.Local
	plan := func() (sessions int, text string) {
		t.Helper()
		host := &inventory.Host{Name: "local", Address: "localhost", Groups: []string{"all"}}
		r, diags := engine.Load(engine.Options{
			SiteDir: site, Hosts: []*inventory.Host{host}, Inputs: evalInputs(map[string]string{"root": target}),
			FactsCache: cache,
			Dial: func(context.Context, *inventory.Host) (transport.Host, error) {
				c := transport.NewLocal()
				conns = append(conns, c)
				return c, nil
			},
		})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		defer r.Close()
		text = planText(t, r)
		return conns[len(conns)-1].Sessions(), text
	}

	if n, text := plan(); n != 2 || !strings.Contains(text, "+ file.mem") {
		t.Fatalf("first plan (no cached facts): %d sessions, want 2\n%s", n, text)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one file", files)
	}
	n, text := plan()
	if n != 1 || strings.Count(text, "+ file.mem") != 1 {
		t.Fatalf("second plan (cached facts): %d sessions, want 1\n%s", n, text)
	}

	// The cached facts are stale: the plan must use the real ones.
	var f map[string]string
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	real := f["memory_mb"]
	f["memory_mb"] = "1"
	b, _ = json.Marshal(f)
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	n, text = plan()
	if n != 2 || !strings.Contains(text, "+"+real) || strings.Contains(text, "+1\n") || strings.Count(text, "+ file.mem") != 1 {
		t.Fatalf("plan with stale cached facts: %d sessions, want 2 and memory %s\n%s", n, real, text)
	}
	if b, _ := os.ReadFile(files[0]); !strings.Contains(string(b), `"memory_mb":"`+real+`"`) {
		t.Errorf("the cache was not refreshed: %s", b)
	}
}
