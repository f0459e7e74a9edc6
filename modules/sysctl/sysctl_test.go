package sysctl

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"empty name", map[string]cty.Value{"name": str(""), "value": str("1")}, "name", "empty"},
		{"space", map[string]cty.Value{"name": str("net.ipv4 .x"), "value": str("1")}, "name", "' '"},
		{"equals", map[string]cty.Value{"name": str("net.ipv4.x=1"), "value": str("1")}, "name", "'='"},
		{"dash", map[string]cty.Value{"name": str("-w.x"), "value": str("1")}, "name", "'-'"},
		{"dot dot", map[string]cty.Value{"name": str("net..x"), "value": str("1")}, "name", "not"},
		{"trailing dot", map[string]cty.Value{"name": str("net.x."), "value": str("1")}, "name", "not"},
		{"escape", map[string]cty.Value{"name": str("net./.x"), "value": str("1")}, "name", "not"},
		{"escape in path form", map[string]cty.Value{"name": str("net/../x"), "value": str("1")}, "name", "not"},
		{"group", map[string]cty.Value{"name": str("vm"), "value": str("1")}, "name", "group"},
		{"empty value", map[string]cty.Value{"name": str("vm.swappiness"), "value": str(" ")}, "value", "empty"},
		{"two lines", map[string]cty.Value{"name": str("vm.swappiness"), "value": str("1\n2")}, "value", "one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a field error, got %v", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %q, want field %s with %q", err, tt.field, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ in, name, proc, conf string }{
		{"net.ipv4.ip_forward", "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward", "/etc/sysctl.d/60-pinery-net.ipv4.ip_forward.conf"},
		{"net/ipv4/ip_forward", "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward", "/etc/sysctl.d/60-pinery-net.ipv4.ip_forward.conf"},
		{"net.ipv4.conf.eth0/100.forwarding", "net.ipv4.conf.eth0/100.forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding", "/etc/sysctl.d/60-pinery-net.ipv4.conf.eth0_100.forwarding.conf"},
		{"net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.eth0/100.forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding", ""},
		{"/net/core/somaxconn", "net.core.somaxconn", "/proc/sys/net/core/somaxconn", ""},
	} {
		s := newSysctl(t, map[string]cty.Value{"name": str(tt.in), "value": str("1")})
		if s.name != tt.name || s.proc != tt.proc || (tt.conf != "" && s.conf != tt.conf) {
			t.Errorf("%s: got %s %s %s", tt.in, s.name, s.proc, s.conf)
		}
	}
}

func persisted(content string) string {
	return "persisted=\n" + base64.StdEncoding.EncodeToString([]byte(content)) + "\n"
}

func TestPlanTable(t *testing.T) {
	own := "# Written by pinery; changes here are overwritten.\nnet.ipv4.ip_local_port_range = 32768 60999\n"
	noApply := map[string]cty.Value{"apply": cty.False}
	noPersist := map[string]cty.Value{"persist": cty.False}
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		exit    int
		action  resource.Action
		changes []resource.Change
		priv    *Private
		err     string
	}{
		{name: "converged, tabs and spaces", out: "running=32768\t60999\n" + persisted(own), action: resource.NoOp},
		{name: "fresh", out: "running=1024\t4999\n", action: resource.Update,
			changes: []resource.Change{{Field: "running", Old: "1024\t4999", New: "32768  60999"}, {Field: "persisted", Old: "(none)", New: "32768 60999"}},
			priv:    &Private{Set: true, Write: true}},
		{name: "running only", vals: noPersist, out: "running=1 2\n", action: resource.Update,
			changes: []resource.Change{{Field: "running", Old: "1 2", New: "32768  60999"}}, priv: &Private{Set: true}},
		{name: "persisted only", vals: noApply, out: persisted("net.ipv4.ip_local_port_range=1 2\n"), action: resource.Update,
			changes: []resource.Change{{Field: "persisted", Old: "1 2", New: "32768 60999"}}, priv: &Private{Write: true}},
		{name: "persisted file edited", vals: noApply, out: persisted("# hello\n"), action: resource.Update,
			changes: []resource.Change{{Field: "persisted", Old: "(no setting)", New: "32768 60999"}}},
		{name: "persisted file, same value, other text", vals: noApply, out: persisted("net.ipv4.ip_local_port_range = 32768 60999\n"), action: resource.Update},
		{name: "persist = false removes", vals: noPersist, out: "running=32768 60999\n" + persisted(own), action: resource.Update,
			changes: []resource.Change{{Field: "persisted", Old: "32768 60999", New: "(removed)"}}, priv: &Private{Remove: true}},
		{name: "neither, nothing there", vals: map[string]cty.Value{"apply": cty.False, "persist": cty.False}, out: "", action: resource.NoOp},
		{name: "read-only key, converged", out: "running=32768 60999\nwritable=0\nmount=315 314 0:70 /sys /proc/sys ro,nosuid - proc proc rw\n" + persisted(own), action: resource.NoOp},
		{name: "read-only key", vals: noPersist, out: "running=1 2\nwritable=0\nmount=315 314 0:70 /sys /proc/sys ro,nosuid - proc proc rw\n", action: resource.Update,
			priv: &Private{Set: true, Reason: "/proc/sys is mounted read-only on this host (a container: the kernel's settings belong to the machine it runs on)"}},
		{name: "read-only key, net writable", vals: noPersist, out: "running=1 2\nwritable=0\nmount=1 2 0:70 /sys /proc/sys ro - proc proc rw\nmount=3 1 0:70 /sys/net /proc/sys/net rw - proc proc rw\n",
			action: resource.Update, priv: &Private{Set: true, Reason: "the kernel does not let root write it on this host"}},
		{name: "no such key", vals: noPersist, out: "state=none\n", action: resource.Update,
			changes: []resource.Change{{Field: "running", Old: "(no such key)", New: "32768  60999"}}},
		{name: "group", out: "state=directory\n", err: "group of parameters"},
		{name: "table", out: "state=multiline\n", err: "table"},
		{name: "write-only", out: "state=unreadable\n", err: "set apply = false"},
		{name: "not a file", vals: noApply, out: "persisted=other\n", err: "not a regular file"},
		{name: "overridden later", vals: noApply, out: "conf=/etc/sysctl.d/99-sysctl.conf:net.ipv4.ip_local_port_range=1 2\n",
			err: `set to "1 2" in /etc/sysctl.d/99-sysctl.conf, which is read after /etc/sysctl.d/60-pinery-net.ipv4.ip_local_port_range.conf`},
		{name: "overridden, path form, dash", vals: noApply, out: "conf=/usr/lib/sysctl.d/70-x.conf: -net/ipv4/ip_local_port_range = 1 2\n", err: "70-x.conf"},
		{name: "overridden, the last file wins", vals: noApply,
			out: "conf=/etc/sysctl.d/99-a.conf:net.ipv4.ip_local_port_range = 32768 60999\nconf=/run/sysctl.d/70-b.conf:net.ipv4.ip_local_port_range = 1 2\n", action: resource.Update},
		{name: "overridden by the same value", vals: noApply, out: "conf=/etc/sysctl.d/99-sysctl.conf:net.ipv4.ip_local_port_range=32768 60999\n", action: resource.Update},
		{name: "set earlier: ours wins", vals: noApply, out: "conf=/usr/lib/sysctl.d/50-default.conf:net.ipv4.ip_local_port_range=1 2\n", action: resource.Update},
		{name: "comments and other keys", vals: noApply,
			out:    "conf=/etc/sysctl.d/99-sysctl.conf:#net.ipv4.ip_local_port_range=1 2\nconf=/etc/sysctl.d/99-x.conf:; net.ipv4.ip_local_port_range=1\nconf=/etc/sysctl.d/99-y.conf:net.ipv4.ip_local_port_range_x=1\nconf=/etc/sysctl.d/99-z.conf:net.ipv4.*=1\n",
			action: resource.Update},
		{name: "failed", out: "", exit: 1, err: "exit status 1"},
		{name: "bad state", out: "state=gone\n", err: "malformed"},
		{name: "state and value", out: "state=none\nrunning=1\n", err: "both"},
		{name: "unknown key", out: "who=me\n", err: "unexpected"},
		{name: "bad base64", vals: noApply, out: "persisted=\n!!\n", err: "malformed persisted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]cty.Value{"name": str("net.ipv4.ip_local_port_range"), "value": str("32768  60999")}
			for k, v := range tt.vals {
				vals[k] = v
			}
			d, err := newSysctl(t, vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v", d.Action, tt.action)
			}
			if tt.changes != nil && fmt.Sprint(d.Changes) != fmt.Sprint(tt.changes) {
				t.Errorf("changes\n got %+v\nwant %+v", d.Changes, tt.changes)
			}
			if tt.priv != nil && fmt.Sprint(d.Private) != fmt.Sprint(tt.priv) {
				t.Errorf("private\n got %+v\nwant %+v", d.Private, tt.priv)
			}
		})
	}
}

func TestSetError(t *testing.T) {
	s := newSysctl(t, map[string]cty.Value{"name": str("net.ipv4.ip_forward"), "value": str("1")})
	for _, tt := range []struct {
		reason, stderr string
		want           []string
	}{
		{"/proc/sys is mounted read-only on this host", `sysctl: permission denied on key "net.ipv4.ip_forward"`,
			[]string{`sysctl net.ipv4.ip_forward: cannot set the running value to "1": sysctl: permission denied on key "net.ipv4.ip_forward": /proc/sys is mounted read-only`, "set apply = false"}},
		{"", `sysctl: setting key "net.ipv4.ip_forward": Operation not permitted`, []string{"CAP_NET_ADMIN"}},
		{"", `sysctl: cannot stat /proc/sys/net/ipv4/ip_forward: No such file or directory`, []string{"kernel module"}},
		{"", `sysctl: setting key "net.ipv4.ip_forward": Invalid argument`, []string{"does not accept this value"}},
	} {
		err := s.setError(&Private{Set: true, Reason: tt.reason}, resource.Result{Stderr: []byte(tt.stderr + "\n"), ExitCode: 6})
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v\nlacks %q", err, w)
			}
		}
	}
}

// The tests below run on a real fleet host (skipped without one).

func TestFleetPersistOnly(t *testing.T) {
	h := host(t)
	// ip_forward: Debian's /etc/sysctl.conf (99-sysctl.conf) mentions it
	// in a comment, which must not count as a setting.
	r := newSysctl(t, map[string]cty.Value{"name": str("net.ipv4.ip_forward"), "value": str("1"), "apply": cty.False})
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -f -- "+q(r.conf), nil) })
	d := converge(t, h, r)
	if fmt.Sprint(d.Changes) != fmt.Sprint([]resource.Change{{Field: "persisted", Old: "(none)", New: "1"}}) {
		t.Fatalf("plan: %+v", d.Changes)
	}
	if got := run(t, h, "stat -c '%a %U' -- "+q(r.conf)+" && cat -- "+q(r.conf)); got != "644 root\n"+r.content() {
		t.Fatalf("persisted file: %q", got)
	}
	d = converge(t, h, newSysctl(t, map[string]cty.Value{"name": str("net.ipv4.ip_forward"), "value": str("0"), "apply": cty.False}))
	if d.Changes[0].Old != "1" || d.Changes[0].New != "0" {
		t.Fatalf("plan: %+v", d.Changes)
	}
	d = converge(t, h, newSysctl(t, map[string]cty.Value{"name": str("net.ipv4.ip_forward"), "value": str("0"), "apply": cty.False, "persist": cty.False}))
	if !d.Private.(*Private).Remove {
		t.Fatalf("plan: %+v", d)
	}
	if got := run(t, h, "[ -e "+q(r.conf)+" ] || echo gone; ls -A /etc/sysctl.d | grep -c '^\\.pinery-' || :"); got != "gone\n0\n" {
		t.Fatalf("after removal: %q", got)
	}
}

func TestFleetReadOnly(t *testing.T) {
	h := host(t)
	r := newSysctl(t, map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str("1000")})
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -f -- "+q(r.conf), nil) })
	before := run(t, h, "cat /proc/sys/net/core/somaxconn")
	d := plan(t, h, r)
	if d.Changes[0].Field != "running" || d.Changes[0].Old+"\n" != before {
		t.Fatalf("plan: %+v", d.Changes)
	}
	err := r.Apply(context.Background(), h, d)
	if err == nil {
		t.Fatal("apply of a read-only key succeeded")
	}
	for _, w := range []string{"sysctl net.core.somaxconn", "/proc/sys is mounted read-only", "set apply = false"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	// A refused value is not persisted either.
	if got := run(t, h, "[ -e "+q(r.conf)+" ] || echo none"); got != "none\n" {
		t.Fatalf("persisted anyway: %q", got)
	}
	// Persisting it alone works; its running value is left as it is.
	converge(t, h, newSysctl(t, map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str("1000"), "apply": cty.False}))
	if got := run(t, h, "cat /proc/sys/net/core/somaxconn"); got != before {
		t.Fatalf("running value changed: %q", got)
	}
}

func TestFleetOverridden(t *testing.T) {
	h := host(t)
	later := "/etc/sysctl.d/99-pinery-test-" + token() + ".conf"
	earlier := "/etc/sysctl.d/10-pinery-test-" + token() + ".conf"
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -f -- "+q(later)+" "+q(earlier), nil) })
	run(t, h, "printf '# test\\n net/core/somaxconn = 9\\n' >"+q(later)+" && echo 'net.core.somaxconn=5' >"+q(earlier))

	r := newSysctl(t, map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str("1000"), "apply": cty.False})
	if _, err := r.Plan(runProbe(t, h, r)); err == nil || !strings.Contains(err.Error(), `set to "9" in `+later) {
		t.Fatalf("want an override error, got %v", err)
	}
	// the same value later is harmless; the earlier file never counts
	r = newSysctl(t, map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str("9"), "apply": cty.False})
	if d := plan(t, h, r); d.Action != resource.Update {
		t.Fatalf("plan: %+v", d)
	}
	// a file in /etc hides the vendor file of the same name
	vendor := "/usr/lib/sysctl.d/98-pinery-test-" + token() + ".conf"
	hider := "/etc/sysctl.d/" + vendor[len("/usr/lib/sysctl.d/"):]
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -f -- "+q(vendor)+" "+q(hider), nil) })
	run(t, h, "rm -f -- "+q(later)+" && echo net.core.somaxconn=7 >"+q(vendor)+" && ln -s /dev/null "+q(hider))
	if d := plan(t, h, r); d.Action != resource.Update {
		t.Fatalf("plan: %+v", d)
	}
	run(t, h, "rm -f -- "+q(hider))
	if _, err := r.Plan(runProbe(t, h, r)); err == nil || !strings.Contains(err.Error(), vendor) {
		t.Fatalf("want an override error, got %v", err)
	}
}

func TestFleetRunningValue(t *testing.T) {
	h := host(t)
	ns := newNetns(t, h)
	r := newSysctl(t, map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str("1000")})
	conf := r.conf
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -f -- "+q(conf), nil) })
	d := converge(t, ns, r)
	if len(d.Changes) != 2 || d.Changes[0].New != "1000" || !d.Private.(*Private).Set {
		t.Fatalf("plan: %+v", d)
	}
	if got := run(t, ns, "cat /proc/sys/net/core/somaxconn; cat -- "+q(r.conf)); got != "1000\n"+r.content() {
		t.Fatalf("after apply: %q", got)
	}
	if got := run(t, h, "cat /proc/sys/net/core/somaxconn"); got == "1000\n" {
		t.Fatal("the host's own value changed: the test namespace leaks")
	}

	// several values, tab-separated by the kernel; path-form name
	r = newSysctl(t, map[string]cty.Value{"name": str("net/ipv4/ip_local_port_range"), "value": str("40000  50000"), "persist": cty.False})
	converge(t, ns, r)
	if got := run(t, ns, "cat /proc/sys/net/ipv4/ip_local_port_range"); got != "40000\t50000\n" {
		t.Fatalf("port range: %q", got)
	}

	// a value the kernel refuses
	r = newSysctl(t, map[string]cty.Value{"name": str("net.ipv4.ip_local_port_range"), "value": str("50000 40000"), "persist": cty.False})
	err := r.Apply(context.Background(), ns, plan(t, ns, r))
	if err == nil || !strings.Contains(err.Error(), "sysctl net.ipv4.ip_local_port_range: cannot set the running value") {
		t.Fatalf("want a refused value, got %v", err)
	}

	// ip_forward needs CAP_NET_ADMIN, which the fleet's containers lack
	r = newSysctl(t, map[string]cty.Value{"name": str("net.ipv4.ip_forward"), "value": str("1"), "persist": cty.False})
	err = r.Apply(context.Background(), ns, plan(t, ns, r))
	if err == nil || !strings.Contains(err.Error(), "sysctl net.ipv4.ip_forward") || !strings.Contains(err.Error(), "Operation not permitted") {
		t.Fatalf("want a capability error, got %v", err)
	}

	// a key this kernel does not have
	r = newSysctl(t, map[string]cty.Value{"name": str("net.ipv4.pinery_nope"), "value": str("1"), "persist": cty.False})
	d = plan(t, ns, r)
	if d.Changes[0].Old != "(no such key)" {
		t.Fatalf("plan: %+v", d)
	}
	if err := r.Apply(context.Background(), ns, d); err == nil || !strings.Contains(err.Error(), "no such parameter") {
		t.Fatalf("want a missing key error, got %v", err)
	}
}
