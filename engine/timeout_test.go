package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// --host-timeout: a host whose apply hangs is failed with the reason, its
// command ended, what follows skipped; the run does not wait for it.
func TestHostTimeout(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
exec "hang" {
  command = "sleep 30; touch ${var.root}/too-late"
  creates = "${var.root}/too-late"
}
file "after" {
  path       = "${var.root}/after"
  content    = "x"
  depends_on = [exec.hang]
}
`})
	host := &inventory.Host{Name: "local", Address: "localhost", Groups: []string{"all"}}
	r, diags := engine.Load(engine.Options{
		SiteDir: site, Hosts: []*inventory.Host{host}, Inputs: evalInputs(map[string]string{"root": target}),
		HostTimeout: time.Second,
		Dial:        func(context.Context, *inventory.Host) (transport.Host, error) { return transport.NewLocal(), nil },
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	defer r.Close()
	if _, diags := r.Plan(context.Background()); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	start := time.Now()
	var events []engine.Event
	res := r.Apply(context.Background(), func(e engine.Event) { events = append(events, e) })
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("apply took %v with a 1s host timeout", d)
	}
	if res[0].Failed != 1 || res[0].Skipped != 1 {
		t.Fatalf("result %+v", res[0])
	}
	var text []string
	for _, e := range events {
		text = append(text, e.Addr+" "+string(e.Status)+" "+e.Note+" "+errString(e.Err))
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "exec.hang failed  the host timed out (--host-timeout)") || !strings.Contains(all, "file.after skipped") {
		t.Errorf("events:\n%s", all)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
