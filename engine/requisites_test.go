package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
)

// planText plans a site on the local host and renders the plan.
func planText(t *testing.T, r *engine.Run) string {
	t.Helper()
	p, diags := r.Plan(context.Background())
	if diags.HasErrors() || p.Hosts[0].Error != nil {
		t.Fatalf("plan: %v %v", diags, p.Hosts[0].Error)
	}
	var b strings.Builder
	if err := p.WriteText(&b, planStyle()); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func applyAll(t *testing.T, r *engine.Run) (engine.HostResult, []engine.Event) {
	t.Helper()
	var events []engine.Event
	res := r.Apply(context.Background(), func(e engine.Event) { events = append(events, e) })
	return res[0], events
}

func readLog(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// onchanges: a command runs only in a run where its requisite changes.
func TestOnChanges(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
variable "v" { type = string }
file "conf" {
  path    = "${var.root}/conf"
  content = "v=${var.v}\n"
}
exec "migrate" {
  command   = "cat ${var.root}/conf >> ${var.root}/log"
  onchanges = [file.conf]
}
`})
	logf := filepath.Join(target, "log")
	for i, step := range []struct {
		v, wantPlan, wantLog string
	}{
		{"1", "! exec.migrate (onchanges: file.conf changes)", "v=1\n"},
		{"1", "no changes", "v=1\n"},
		{"2", "! exec.migrate (onchanges: file.conf changes)", "v=1\nv=2\n"},
	} {
		r := localRun(t, site, map[string]string{"root": target, "v": step.v})
		if text := planText(t, r); !strings.Contains(text, step.wantPlan) {
			t.Fatalf("step %d: plan lacks %q:\n%s", i, step.wantPlan, text)
		}
		if res, ev := applyAll(t, r); res.Failed != 0 {
			t.Fatalf("step %d: apply: %+v %+v", i, res, ev)
		}
		if got := readLog(t, logf); got != step.wantLog {
			t.Errorf("step %d: log %q, want %q", i, got, step.wantLog)
		}
	}
}

// onfail: a command runs only when its requisite fails, and that failure
// does not skip it.
func TestOnFail(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
variable "rc" { type = number }
exec "deploy" {
  command = "exit ${var.rc}"
}
exec "rollback" {
  command = "echo rolled back >> ${var.root}/log"
  onfail  = [exec.deploy]
}
`})
	logf := filepath.Join(target, "log")
	r := localRun(t, site, map[string]string{"root": target, "rc": "0"})
	text := planText(t, r)
	if !strings.Contains(text, "? exec.rollback (only if exec.deploy fails)") || !strings.Contains(text, "0 to create, 0 to change, 0 to remove, 1 to run") {
		t.Fatalf("plan:\n%s", text)
	}
	if res, ev := applyAll(t, r); res.Failed != 0 || res.Changed != 1 {
		t.Fatalf("apply: %+v %+v", res, ev)
	}
	if got := readLog(t, logf); got != "" {
		t.Fatalf("rollback ran although deploy succeeded: %q", got)
	}

	r = localRun(t, site, map[string]string{"root": target, "rc": "3"})
	planText(t, r)
	res, ev := applyAll(t, r)
	if res.Failed != 1 || res.Changed != 1 || res.Skipped != 0 {
		t.Fatalf("apply: %+v %+v", res, ev)
	}
	if got := readLog(t, logf); got != "rolled back\n" {
		t.Fatalf("log %q, want the rollback once", got)
	}
}

// prereq: a command runs before the resource it names, and only in a run
// where that resource is about to change (drain before a restart).
func TestPrereq(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
variable "v" { type = string }
exec "drain" {
  command = "echo \"drain saw $(cat ${var.root}/conf 2>/dev/null || echo nothing)\" >> ${var.root}/log"
  prereq  = [file.conf]
}
file "conf" {
  path    = "${var.root}/conf"
  content = "v${var.v}"
}
`})
	logf := filepath.Join(target, "log")
	for i, step := range []struct{ v, wantPlan, wantLog string }{
		{"1", "! exec.drain (prereq of file.conf, which changes)", "drain saw nothing\n"},
		{"1", "no changes", "drain saw nothing\n"},
		{"2", "! exec.drain (prereq of file.conf, which changes)", "drain saw nothing\ndrain saw v1\n"},
	} {
		r := localRun(t, site, map[string]string{"root": target, "v": step.v})
		if text := planText(t, r); !strings.Contains(text, step.wantPlan) {
			t.Fatalf("step %d: plan lacks %q:\n%s", i, step.wantPlan, text)
		}
		if res, ev := applyAll(t, r); res.Failed != 0 {
			t.Fatalf("step %d: apply: %+v %+v", i, res, ev)
		}
		if got := readLog(t, logf); got != step.wantLog {
			t.Errorf("step %d: log %q, want %q", i, got, step.wantLog)
		}
	}
}

// notify is watch declared on the other end.
func TestNotify(t *testing.T) {
	target := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
variable "root" { type = string }
file "conf" {
  path    = "${var.root}/conf"
  content = "x\n"
  notify  = [exec.reload]
}
exec "reload" {
  command      = "echo reloaded >> ${var.root}/log"
  refresh_only = true
}
`})
	r := localRun(t, site, map[string]string{"root": target})
	if text := planText(t, r); !strings.Contains(text, "! exec.reload (watches file.conf, which changes)") {
		t.Fatalf("plan:\n%s", text)
	}
	if res, ev := applyAll(t, r); res.Failed != 0 {
		t.Fatalf("apply: %+v %+v", res, ev)
	}
	if got := readLog(t, filepath.Join(target, "log")); got != "reloaded\n" {
		t.Errorf("log %q", got)
	}
}
