package symlink

import (
	"context"
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
		{"relative", map[string]cty.Value{"path": str("etc/x"), "target": str("/y")}, "path", "absolute"},
		{"empty", map[string]cty.Value{"path": str(""), "target": str("/y")}, "path", "empty"},
		{"root", map[string]cty.Value{"path": str("/"), "target": str("/y")}, "path", "not /"},
		{"unclean", map[string]cty.Value{"path": str("/etc//x"), "target": str("/y")}, "path", `"/etc/x"`},
		{"nul", map[string]cty.Value{"path": str("/etc/x\x00"), "target": str("/y")}, "path", "NUL"},
		{"no target", map[string]cty.Value{"path": str("/etc/x")}, "target", "required"},
		{"empty target", map[string]cty.Value{"path": str("/etc/x"), "target": str("")}, "target", "empty"},
		{"newline target", map[string]cty.Value{"path": str("/etc/x"), "target": str("a\nb")}, "target", "line break"},
		{"long target", map[string]cty.Value{"path": str("/etc/x"), "target": str(strings.Repeat("a", 4096))}, "target", "4095"},
		{"state", map[string]cty.Value{"path": str("/etc/x"), "target": str("/y"), "state": str("link")}, "state", `"present" or "absent"`},
		{"target with absent", map[string]cty.Value{"path": str("/etc/x"), "target": str("/y"), "state": str("absent")}, "target", "no effect"},
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
	for _, target := range []string{"/srv/a", "../sites-available/x", "-rf", "a b", "$(reboot)"} {
		if _, err := New(config(t, map[string]cty.Value{"path": str("/etc/x"), "target": str(target)})); err != nil {
			t.Errorf("target %q: %v", target, err)
		}
	}
}

func TestPlanTable(t *testing.T) {
	absent := map[string]cty.Value{"state": str("absent")}
	force := map[string]cty.Value{"force": cty.True}
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
		{name: "create", out: "type=none\n", action: resource.Create,
			changes: []resource.Change{{Field: "target", New: "/srv/v2"}}, priv: &Private{Was: wasNone}},
		{name: "converged", out: "type=link\ntarget=/srv/v2\n", action: resource.NoOp},
		{name: "re-point", out: "type=link\ntarget=/srv/v1\n", action: resource.Update,
			changes: []resource.Change{{Field: "target", Old: "/srv/v1", New: "/srv/v2"}}, priv: &Private{Was: wasLink, OldTarget: "/srv/v1"}},
		{name: "literal compare", out: "type=link\ntarget=/srv/./v2\n", action: resource.Update},
		{name: "target with newline and equals", out: "type=link\ntarget=/srv/a=b\nc\n", action: resource.Update,
			priv: &Private{Was: wasLink, OldTarget: "/srv/a=b\nc"}},
		{name: "file in the way", out: "type=file\n", err: "regular file; set force = true"},
		{name: "fifo in the way", out: "type=other\n", err: "special file"},
		{name: "file, forced", vals: force, out: "type=file\n", action: resource.Update,
			changes: []resource.Change{{Field: "type", Old: "file", New: "symlink"}, {Field: "target", New: "/srv/v2"}}, priv: &Private{Was: wasFile}},
		{name: "empty dir", out: "type=directory\nempty=1\n", err: "empty directory; set force"},
		{name: "empty dir, forced", vals: force, out: "type=directory\nempty=1\n", action: resource.Update, priv: &Private{Was: wasDir}},
		{name: "full dir, forced", vals: force, out: "type=directory\nempty=0\n", err: "never replaces"},
		{name: "probe failed", out: "type=link\ntarget=", exit: 1, err: "exit status 1"},
		{name: "truncated target", out: "type=link\ntarget=/srv", err: "truncated"},
		{name: "link without target", out: "type=link\n", err: "without target"},
		{name: "no emptiness", out: "type=directory\n", err: "emptiness"},
		{name: "bad type", out: "type=socket\n", err: "type"},
		{name: "empty output", out: "", err: "malformed"},
		{name: "unknown key", out: "type=none\nwho=me\n", err: "unexpected"},

		{name: "absent: nothing", vals: absent, out: "type=none\n", action: resource.NoOp},
		{name: "absent: link", vals: absent, out: "type=link\ntarget=/etc\n", action: resource.Delete,
			changes: []resource.Change{{Field: "state", Old: "symlink to /etc", New: "absent"}}, priv: &Private{Was: wasLink, OldTarget: "/etc", Remove: true}},
		{name: "absent: file", vals: absent, out: "type=file\n", err: "not a symbolic link; set force = true"},
		{name: "absent: file, forced", vals: map[string]cty.Value{"state": str("absent"), "force": cty.True}, out: "type=file\n",
			action: resource.Delete, priv: &Private{Was: wasFile, Remove: true}},
		{name: "absent: full dir, forced", vals: map[string]cty.Value{"state": str("absent"), "force": cty.True}, out: "type=directory\nempty=0\n", err: "not empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]cty.Value{"path": str("/srv/current")}
			for k, v := range tt.vals {
				vals[k] = v
			}
			if _, ok := vals["state"]; !ok {
				vals["target"] = str("/srv/v2")
			}
			d, err := newLink(t, vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
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
				t.Errorf("private %+v, want %+v", d.Private, tt.priv)
			}
		})
	}
}

// The tests below run on a real fleet host (skipped without one).

func TestFleetLifecycle(t *testing.T) {
	h, dir := host(t)
	p := dir + "/current"
	run(t, h, "mkdir -- "+q(dir+"/v1")+" "+q(dir+"/v2"))

	d := converge(t, h, newLink(t, map[string]cty.Value{"path": str(p), "target": str("v1")}))
	if d.Action != resource.Create {
		t.Fatalf("first apply: %+v", d)
	}
	if got := run(t, h, "readlink -- "+q(p)); got != "v1\n" {
		t.Fatalf("link points to %q", got)
	}
	// Re-pointing a link to a directory replaces the link, and creates
	// nothing inside the directory it pointed to (mv without -T would).
	d = converge(t, h, newLink(t, map[string]cty.Value{"path": str(p), "target": str(dir + "/v2")}))
	if d.Action != resource.Update || d.Changes[0].Old != "v1" {
		t.Fatalf("re-point: %+v", d)
	}
	if got := run(t, h, "readlink -- "+q(p)+"; ls -A -- "+q(dir+"/v1")); got != dir+"/v2\n" {
		t.Fatalf("after re-point: %q", got)
	}
	// A dangling link is fine, and odd characters survive.
	odd := "../no such/$(x) 'q'-"
	converge(t, h, newLink(t, map[string]cty.Value{"path": str(p), "target": str(odd)}))
	if got := run(t, h, "readlink -- "+q(p)); got != odd+"\n" {
		t.Fatalf("link points to %q", got)
	}
	if l := leftovers(t, h, dir); l != "" {
		t.Fatalf("temporary files left: %s", l)
	}

	d = converge(t, h, newLink(t, map[string]cty.Value{"path": str(p), "state": str("absent")}))
	if d.Action != resource.Delete {
		t.Fatalf("absent: %+v", d)
	}
	if got := run(t, h, "[ -e "+q(p)+" ] || [ -L "+q(p)+" ] || echo gone; ls -d -- "+q(dir+"/v2")); got != "gone\n"+dir+"/v2\n" {
		t.Fatalf("after absent: %q", got)
	}
}

func TestFleetForce(t *testing.T) {
	h, dir := host(t)
	p := dir + "/x"
	want := map[string]cty.Value{"path": str(p), "target": str("/etc/hostname")}
	forced := map[string]cty.Value{"path": str(p), "target": str("/etc/hostname"), "force": cty.True}

	run(t, h, "echo data >"+q(p))
	if _, err := newLink(t, want).Plan(runProbe(t, h, newLink(t, want))); err == nil || !strings.Contains(err.Error(), "force = true") {
		t.Fatalf("a file in the way: want a force error, got %v", err)
	}
	converge(t, h, newLink(t, forced))
	if got := run(t, h, "cat -- "+q(p)); got != run(t, h, "cat /etc/hostname") {
		t.Fatalf("link does not read as its target: %q", got)
	}

	run(t, h, "rm -- "+q(p)+" && mkdir -- "+q(p))
	converge(t, h, newLink(t, forced))

	run(t, h, "rm -- "+q(p)+" && mkdir -- "+q(p)+" && touch -- "+q(p+"/.keep"))
	r := newLink(t, forced)
	if _, err := r.Plan(runProbe(t, h, r)); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a full directory: want an error, got %v", err)
	}
	if got := run(t, h, "ls -A -- "+q(p)); got != ".keep\n" {
		t.Fatalf("directory changed: %q", got)
	}

	// absent removes a file only with force
	f := dir + "/f"
	run(t, h, "echo data >"+q(f))
	r = newLink(t, map[string]cty.Value{"path": str(f), "state": str("absent")})
	if _, err := r.Plan(runProbe(t, h, r)); err == nil || !strings.Contains(err.Error(), "not a symbolic link") {
		t.Fatalf("absent over a file: want an error, got %v", err)
	}
	converge(t, h, newLink(t, map[string]cty.Value{"path": str(f), "state": str("absent"), "force": cty.True}))
}

func TestFleetChangedSincePlan(t *testing.T) {
	h, dir := host(t)
	p := dir + "/x"
	r := newLink(t, map[string]cty.Value{"path": str(p), "target": str("/a")})
	d := plan(t, h, r)
	run(t, h, "echo precious >"+q(p)) // appears between plan and apply
	err := r.Apply(context.Background(), h, d)
	if err == nil || !strings.Contains(err.Error(), "changed since the plan; plan again") {
		t.Fatalf("want a drift error, got %v", err)
	}
	if got := run(t, h, "cat -- "+q(p)); got != "precious\n" {
		t.Fatalf("file replaced: %q", got)
	}

	run(t, h, "rm -- "+q(p)+" && ln -s /a "+q(p))
	r = newLink(t, map[string]cty.Value{"path": str(p), "target": str("/b")})
	d = plan(t, h, r)
	run(t, h, "ln -sfn /c "+q(p)) // re-pointed by someone else
	if err := r.Apply(context.Background(), h, d); err == nil || !strings.Contains(err.Error(), "changed since the plan") {
		t.Fatalf("want a drift error, got %v", err)
	}
}

func TestFleetMissingDirectory(t *testing.T) {
	h, dir := host(t)
	p := dir + "/missing/x"
	r := newLink(t, map[string]cty.Value{"path": str(p), "target": str("/a")})
	err := r.Apply(context.Background(), h, plan(t, h, r))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("want a missing directory error, got %v", err)
	}
}
