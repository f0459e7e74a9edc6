package service

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

var s = cty.StringVal

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		kv    map[string]cty.Value
		unit  string
		field string
	}{
		{"short name", map[string]cty.Value{"name": s("nginx")}, "nginx.service", ""},
		{"full name", map[string]cty.Value{"name": s("nginx.service")}, "nginx.service", ""},
		{"timer", map[string]cty.Value{"name": s("fstrim.timer")}, "fstrim.timer", ""},
		{"instance", map[string]cty.Value{"name": s("getty@tty1")}, "getty@tty1.service", ""},
		{"escaped", map[string]cty.Value{"name": s(`systemd-fsck@dev-disk-by\x2duuid-1234.service`)}, `systemd-fsck@dev-disk-by\x2duuid-1234.service`, ""},
		{"dotted", map[string]cty.Value{"name": s("php8.2-fpm")}, "php8.2-fpm.service", ""},
		{"template", map[string]cty.Value{"name": s("getty@.service")}, "", "name"},
		{"leading dash", map[string]cty.Value{"name": s("--now")}, "", "name"},
		{"space", map[string]cty.Value{"name": s("nginx reboot")}, "", "name"},
		{"substitution", map[string]cty.Value{"name": s("$(reboot)")}, "", "name"},
		{"backtick", map[string]cty.Value{"name": s("a`id`")}, "", "name"},
		{"newline", map[string]cty.Value{"name": s("nginx\nreboot")}, "", "name"},
		{"quote", map[string]cty.Value{"name": s("ng'inx")}, "", "name"},
		{"empty", map[string]cty.Value{"name": s("")}, "", "name"},
		{"bad state", map[string]cty.Value{"name": s("nginx"), "state": s("started")}, "", "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(cfg(tt.kv))
			if tt.field != "" {
				var fe *resource.FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("want error on %q, got %v", tt.field, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.(*Service).unit; got != tt.unit {
				t.Errorf("unit = %q, want %q", got, tt.unit)
			}
		})
	}
	// A null state (no default applied) means unmanaged.
	c := cfg(map[string]cty.Value{"name": s("nginx")})
	c.Values["state"] = cty.NullVal(cty.String)
	r, err := New(c)
	if err != nil || r.(*Service).state != "unmanaged" {
		t.Fatalf("null state: %v %+v", err, r)
	}
}

func show(load, active, sub, file string) string {
	return "LoadState=" + load + "\nActiveState=" + active + "\nSubState=" + sub + "\nUnitFileState=" + file + "\n"
}

func TestPlan(t *testing.T) {
	T, F := cty.True, cty.False
	run := map[string]cty.Value{"name": s("nginx")}
	kv := func(more ...any) map[string]cty.Value {
		m := map[string]cty.Value{"name": s("nginx")}
		for i := 0; i < len(more); i += 2 {
			m[more[i].(string)] = more[i+1].(cty.Value)
		}
		return m
	}
	tests := []struct {
		name    string
		kv      map[string]cty.Value
		out     string
		changes []resource.Change
		private actions
	}{
		{"running", run, show("loaded", "active", "running", "enabled"), nil, actions{}},
		{"reloading counts as running", run, show("loaded", "reloading", "reload", "enabled"), nil, actions{}},
		{"starting counts as running", run, show("loaded", "activating", "start", "enabled"), nil, actions{}},
		{"stopped → start", run, show("loaded", "inactive", "dead", "enabled"),
			[]resource.Change{{Field: "state", Old: "inactive (dead)", New: "running"}}, actions{Start: true}},
		{"failed → start", run, show("loaded", "failed", "failed", "enabled"),
			[]resource.Change{{Field: "state", Old: "failed", New: "running"}}, actions{Start: true}},
		{"crash loop → start", run, show("loaded", "activating", "auto-restart", "enabled"),
			[]resource.Change{{Field: "state", Old: "activating (auto-restart)", New: "running"}}, actions{Start: true}},
		{"start and enable", kv("enabled", T), show("loaded", "inactive", "dead", "disabled"),
			[]resource.Change{{Field: "state", Old: "inactive (dead)", New: "running"}, {Field: "enabled", Old: "disabled", New: "enabled"}},
			actions{Start: true, Enable: true}},
		{"static counts as enabled", kv("enabled", T), show("loaded", "active", "running", "static"), nil, actions{}},
		{"static counts as disabled", kv("enabled", F), show("loaded", "active", "running", "static"), nil, actions{}},
		{"enabled not managed", run, show("loaded", "active", "running", "disabled"), nil, actions{}},
		{"disable", kv("enabled", F), show("loaded", "active", "running", "enabled"),
			[]resource.Change{{Field: "enabled", Old: "enabled", New: "disabled"}}, actions{Disable: true}},
		{"stop and disable", kv("state", s("stopped"), "enabled", F), show("loaded", "active", "running", "enabled"),
			[]resource.Change{{Field: "state", Old: "active (running)", New: "stopped"}, {Field: "enabled", Old: "enabled", New: "disabled"}},
			actions{Stop: true, Disable: true}},
		{"failed is stopped", kv("state", s("stopped")), show("loaded", "failed", "failed", "enabled"), nil, actions{}},
		{"unmanaged state", kv("state", s("unmanaged"), "enabled", T), show("loaded", "inactive", "dead", "enabled"), nil, actions{}},
		{"unmanaged state, enable", kv("state", s("unmanaged"), "enabled", T), show("loaded", "active", "running", "disabled"),
			[]resource.Change{{Field: "enabled", Old: "disabled", New: "enabled"}}, actions{Enable: true}},
		{"masked", kv("enabled", T), show("masked", "inactive", "dead", "masked"),
			[]resource.Change{{Field: "state", Old: "masked", New: "running"}, {Field: "enabled", Old: "masked", New: "enabled"}},
			actions{Start: true, Enable: true}},
		{"not found yet", kv("enabled", T), show("not-found", "inactive", "dead", ""),
			[]resource.Change{{Field: "state", Old: "(unit not found yet)", New: "running"}, {Field: "enabled", Old: "(unit not found yet)", New: "enabled"}},
			actions{Start: true, Enable: true, NotFound: true}},
		{"not found, stopped and disabled wanted", kv("state", s("stopped"), "enabled", F), show("not-found", "inactive", "dead", ""), nil, actions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := mustNew(t, tt.kv).Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.changes == nil {
				if !d.Empty() {
					t.Fatalf("want no-op, got %+v", d)
				}
				return
			}
			if d.Action != resource.Update {
				t.Errorf("action = %v", d.Action)
			}
			if !reflect.DeepEqual(d.Changes, tt.changes) {
				t.Errorf("changes:\n got %+v\nwant %+v", d.Changes, tt.changes)
			}
			if d.Private != tt.private {
				t.Errorf("private = %+v, want %+v", d.Private, tt.private)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		out  string
		rc   int
		want string
	}{
		{"no systemd", "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n", 1, "systemd is not running on this host (System has not been booted"},
		{"no systemctl", "sh: 1: systemctl: not found\n", 127, "systemctl not found"},
		{"other failure", "Failed to get properties: Access denied\n", 1, "exit status 1: Failed to get properties: Access denied"},
		{"garbage", "hello\n", 0, "unexpected line"},
		{"missing property", "LoadState=loaded\nActiveState=active\nSubState=running\n", 0, "no UnitFileState"},
		{"unknown property", show("loaded", "active", "running", "enabled") + "Foo=bar\n", 0, "unexpected property"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustNew(t, map[string]cty.Value{"name": s("nginx")}).Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.rc})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "service nginx.service") {
				t.Fatalf("want error with %q, got %v", tt.want, err)
			}
		})
	}
}

// On this machine (no systemd as PID 1, or no systemctl) the real probe
// must give a clear error, never a plan.
func TestProbeWithoutSystemd(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err == nil {
		if out, _ := exec.Command("systemctl", "is-system-running").Output(); strings.TrimSpace(string(out)) != "offline" && len(out) > 0 {
			t.Skip("systemd runs here; covered by the fake and by e2e tests")
		}
	}
	_, err := probe(t, mustNew(t, map[string]cty.Value{"name": s("cron")}))
	if err == nil || !strings.Contains(err.Error(), "service cron.service") {
		t.Fatalf("want a clear error, got %v", err)
	}
	t.Log(err)
}

func TestActionCommands(t *testing.T) {
	tests := []struct {
		a    actions
		want string
	}{
		{actions{Start: true, Enable: true}, `systemctl enable --now -- "$u"`},
		{actions{Stop: true, Disable: true}, `systemctl disable --now -- "$u"`},
		{actions{Start: true, Disable: true}, `systemctl disable -- "$u" && systemctl start -- "$u"`},
		{actions{Stop: true, Enable: true}, `systemctl enable -- "$u" && systemctl stop -- "$u"`},
		{actions{Start: true}, `systemctl start -- "$u"`},
		{actions{Stop: true}, `systemctl stop -- "$u"`},
		{actions{Enable: true}, `systemctl enable -- "$u"`},
		{actions{Disable: true}, `systemctl disable -- "$u"`},
	}
	for _, tt := range tests {
		if got, _, _ := tt.a.command(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.a, got, tt.want)
		}
	}
}

// Round trips through the real snippets and a fake systemctl.
func TestRoundTripFake(t *testing.T) {
	ctx := context.Background()
	h := transport.NewLocal()
	f := newFakeSystemd(t)
	const u = "nginx.service"

	converge := func(t *testing.T, r *Service) {
		t.Helper()
		d, err := probe(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(ctx, h, d); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		d, err = probe(t, r)
		if err != nil || !d.Empty() {
			t.Fatalf("not converged: %+v %v", d, err)
		}
	}

	t.Run("enable and start in one call", func(t *testing.T) {
		f.set(t, u, true, "units")
		converge(t, mustNew(t, map[string]cty.Value{"name": s("nginx"), "enabled": cty.True}))
		if got := f.calls(t); !reflect.DeepEqual(got, []string{"enable --now -- nginx.service"}) {
			t.Errorf("calls = %q", got)
		}
	})
	t.Run("stop and disable", func(t *testing.T) {
		converge(t, mustNew(t, map[string]cty.Value{"name": s("nginx"), "state": s("stopped"), "enabled": cty.False}))
		if got := f.calls(t); !reflect.DeepEqual(got, []string{"disable --now -- nginx.service"}) {
			t.Errorf("calls = %q", got)
		}
		if f.has(u, "active") || f.has(u, "enabled") {
			t.Error("still active or enabled")
		}
	})
	t.Run("unit written earlier in the run: daemon-reload first", func(t *testing.T) {
		r := mustNew(t, map[string]cty.Value{"name": s("myapp"), "enabled": cty.True})
		d, err := probe(t, r)
		if err != nil || d.Changes[0].Old != "(unit not found yet)" {
			t.Fatalf("plan: %+v %v", d, err)
		}
		f.set(t, "myapp.service", true, "pending") // a file resource writes it
		if err := r.Apply(ctx, h, d); err != nil {
			t.Fatal(err)
		}
		if got := f.calls(t); !reflect.DeepEqual(got, []string{"daemon-reload", "enable --now -- myapp.service"}) {
			t.Errorf("calls = %q", got)
		}
		if d, err := probe(t, r); err != nil || !d.Empty() {
			t.Fatalf("not converged: %+v %v", d, err)
		}
	})
	t.Run("still missing at apply", func(t *testing.T) {
		r := mustNew(t, map[string]cty.Value{"name": s("nope")})
		d, err := probe(t, r)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Apply(ctx, h, d)
		if err == nil || !strings.Contains(err.Error(), "service nope.service: unit not found") {
			t.Fatalf("got %v", err)
		}
		f.calls(t)
	})
	t.Run("failed start shows the journal", func(t *testing.T) {
		f.set(t, u, true, "failstart")
		defer f.set(t, u, false, "failstart")
		r := mustNew(t, map[string]cty.Value{"name": s("nginx")})
		d, err := probe(t, r)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Apply(ctx, h, d)
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{"service nginx.service: start failed: exit status 1: Job for nginx.service failed",
			"last log lines (journalctl -u nginx.service -n 20):", `unknown directive "servr"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
		if got := f.calls(t); len(got) != 2 || got[1] != "-u nginx.service -n 20 --no-pager -q" {
			t.Errorf("calls = %q", got)
		}
	})
	t.Run("refresh restarts, reloads, or leaves alone", func(t *testing.T) {
		f.set(t, u, true, "active")
		did(t, "restarted")(mustNew(t, map[string]cty.Value{"name": s("nginx")}).Refresh(ctx, h))
		did(t, "reloaded")(mustNew(t, map[string]cty.Value{"name": s("nginx"), "reload": cty.True}).Refresh(ctx, h))
		did(t, "")(mustNew(t, map[string]cty.Value{"name": s("nginx"), "state": s("stopped")}).Refresh(ctx, h))
		did(t, "restarted")(mustNew(t, map[string]cty.Value{"name": s("nginx"), "state": s("unmanaged")}).Refresh(ctx, h))
		want := []string{"restart -- nginx.service", "reload-or-restart -- nginx.service", "try-restart -- nginx.service"}
		if got := f.calls(t); !reflect.DeepEqual(got, want) {
			t.Errorf("calls = %q, want %q", got, want)
		}
	})
	t.Run("refresh after a unit file change reloads systemd", func(t *testing.T) {
		f.set(t, u, true, "pending")
		did(t, "restarted")(mustNew(t, map[string]cty.Value{"name": s("nginx")}).Refresh(ctx, h))
		if got := f.calls(t); !reflect.DeepEqual(got, []string{"daemon-reload", "restart -- nginx.service"}) {
			t.Errorf("calls = %q", got)
		}
	})
	t.Run("no second restart after a start in the same run", func(t *testing.T) {
		f.set(t, u, false, "active")
		r := mustNew(t, map[string]cty.Value{"name": s("nginx")})
		converge(t, r)
		did(t, "")(r.Refresh(ctx, h))
		if got := f.calls(t); !reflect.DeepEqual(got, []string{"start -- nginx.service"}) {
			t.Errorf("calls = %q", got)
		}
	})
	t.Run("a unit started since the probe still gets its refresh", func(t *testing.T) {
		// The probe saw it stopped; then its package's postinst started it
		// with the old configuration before pinery came to start it.
		f.set(t, u, false, "active")
		r := mustNew(t, map[string]cty.Value{"name": s("nginx")})
		d, err := probe(t, r)
		if err != nil || d.Empty() {
			t.Fatalf("plan: %+v %v", d, err)
		}
		f.set(t, u, true, "active")
		if err := r.Apply(ctx, h, d); err != nil {
			t.Fatal(err)
		}
		did(t, "restarted")(r.Refresh(ctx, h))
		if got := f.calls(t); !reflect.DeepEqual(got, []string{"start -- nginx.service", "restart -- nginx.service"}) {
			t.Errorf("calls = %q", got)
		}
	})
	t.Run("failed refresh shows the journal", func(t *testing.T) {
		f.set(t, u, true, "failstart")
		defer f.set(t, u, false, "failstart")
		_, err := mustNew(t, map[string]cty.Value{"name": s("nginx")}).Refresh(ctx, h)
		if err == nil || !strings.Contains(err.Error(), "restart failed") || !strings.Contains(err.Error(), "servr") {
			t.Fatalf("got %v", err)
		}
		f.calls(t)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// did checks what a Refresh reports having done.
func did(t *testing.T, want string) func(string, error) {
	return func(got string, err error) {
		t.Helper()
		must(t, err)
		if got != want {
			t.Errorf("Refresh did %q, want %q", got, want)
		}
	}
}
