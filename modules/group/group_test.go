package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// config builds a Config as the engine does: every schema field present,
// defaults applied, null when unset.
func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("group")
	if !ok {
		t.Fatal("group type not registered")
	}
	cfg := resource.Config{Name: "test", Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
	for _, f := range typ.Fields {
		v, ok := vals[f.Name]
		switch {
		case ok:
		case f.Default != cty.NilVal:
			v = f.Default
		default:
			v = cty.NullVal(f.Type)
		}
		cfg.Values[f.Name] = v
	}
	for k := range vals {
		if _, ok := cfg.Values[k]; !ok {
			t.Fatalf("no field %q in the schema", k)
		}
	}
	return cfg
}

func newGroup(t *testing.T, vals map[string]cty.Value) *Group {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Group)
}

func str(s string) cty.Value { return cty.StringVal(s) }

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"empty", map[string]cty.Value{"name": str("")}, "name", "must not be empty"},
		{"leading dash", map[string]cty.Value{"name": str("-g")}, "name", "not starting with '-'"},
		{"metachar", map[string]cty.Value{"name": str("a`b`")}, "name", "not a valid group name"},
		{"comma", map[string]cty.Value{"name": str("a,b")}, "name", "not a valid group name"},
		{"digits", map[string]cty.Value{"name": str("100")}, "name", "all digits"},
		{"too long", map[string]cty.Value{"name": str(strings.Repeat("g", 33))}, "name", "32 characters"},
		{"state", map[string]cty.Value{"name": str("g"), "state": str("gone")}, "state", `"present" or "absent"`},
		{"gid negative", map[string]cty.Value{"name": str("g"), "gid": resource.Num(-5)}, "gid", "whole number"},
		{"gid fraction", map[string]cty.Value{"name": str("g"), "gid": cty.NumberFloatVal(10.5)}, "gid", "whole number"},
		{"gid -1", map[string]cty.Value{"name": str("g"), "gid": resource.Num(4294967295)}, "gid", "4294967294"},
		{"gid when absent", map[string]cty.Value{"name": str("g"), "gid": resource.Num(5), "state": str("absent")}, "gid", "no effect"},
		{"system when absent", map[string]cty.Value{"name": str("g"), "system": cty.True, "state": str("absent")}, "system", "no effect"},
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

func TestPlanTable(t *testing.T) {
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		exit    int
		action  resource.Action
		changes string
		priv    *Private
		err     string
	}{
		{name: "create", out: "group=absent\n", action: resource.Create, changes: "[]", priv: &Private{Op: "groupadd"}},
		{name: "create with gid, system", vals: map[string]cty.Value{"gid": resource.Num(2001), "system": cty.True},
			out: "group=absent\n", action: resource.Create,
			changes: "[{system  true false} {gid  2001 false}]",
			priv:    &Private{Op: "groupadd", Args: []string{"--system", "-g", "2001"}}},
		{name: "exists", out: "gid=1001\n", action: resource.NoOp},
		{name: "same gid", vals: map[string]cty.Value{"gid": resource.Num(1001)}, out: "gid=1001\n", action: resource.NoOp},
		{name: "system ignored when it exists", vals: map[string]cty.Value{"system": cty.True}, out: "gid=1001\n", action: resource.NoOp},
		{name: "gid differs", vals: map[string]cty.Value{"gid": resource.Num(2001)}, out: "gid=1001\n", action: resource.Update,
			changes: "[{gid 1001 2001 false}]", priv: &Private{Op: "groupmod", Args: []string{"-g", "2001"}}},
		{name: "absent: gone", vals: map[string]cty.Value{"state": str("absent")}, out: "group=absent\n", action: resource.NoOp},
		{name: "absent: remove", vals: map[string]cty.Value{"state": str("absent")}, out: "gid=1001\n", action: resource.Delete,
			changes: "[{state present absent false}]", priv: &Private{Op: "groupdel"}},
		{name: "probe failed", out: "", exit: 1, err: "exit status 1"},
		{name: "empty", out: "", err: "malformed"},
		{name: "bad gid", out: "gid=x\n", err: "malformed"},
		{name: "empty gid", out: "gid=\n", err: "malformed"},
		{name: "two lines", out: "gid=1\ngid=2\n", err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.vals == nil {
				tt.vals = map[string]cty.Value{}
			}
			tt.vals["name"] = str("render")
			d, err := newGroup(t, tt.vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
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
			if tt.changes != "" && fmt.Sprint(d.Changes) != tt.changes {
				t.Errorf("changes\n got %v\nwant %s", d.Changes, tt.changes)
			}
			if tt.priv != nil && !reflect.DeepEqual(d.Private, tt.priv) {
				t.Errorf("private %+v, want %+v", d.Private, tt.priv)
			}
		})
	}
}

// The probe reads the controller's own root group: no process, nothing on
// stderr, converged for gid 0.
func TestProbeLocalRoot(t *testing.T) {
	r := newGroup(t, map[string]cty.Value{"name": str("root"), "gid": resource.Num(0)})
	d := plan(t, transport.NewLocal(), r)
	if !d.Empty() {
		t.Fatalf("root group not converged: %+v", d.Changes)
	}
}

// Fleet tests: a real Debian 12 board (PINERY_FLEET); skipped without one.

func run(t *testing.T, h transport.Host, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := h.Run(ctx, cmd, nil)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if err := res.Err(cmd); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(res.Stdout))
}

// plan runs the probe as the engine does and plans.
func plan(t *testing.T, h resource.Runner, r resource.Resource) *resource.Diff {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := h.Run(ctx, "LC_ALL=C; export LC_ALL\n(\n"+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote on stderr: %s", res.Stderr)
	}
	d, err := r.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return d
}

// converge plans, applies, checks that a second probe and plan are empty,
// and returns the first diff.
func converge(t *testing.T, h transport.Host, r resource.Resource) *resource.Diff {
	t.Helper()
	d := plan(t, h, r)
	if err := r.Apply(context.Background(), h, d); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if again := plan(t, h, r); !again.Empty() {
		t.Fatalf("not converged after apply: %+v", again.Changes)
	}
	return d
}

func fleetSetup(t *testing.T) (transport.Host, string) {
	t.Helper()
	h := fleettest.Dial(t, "h1")
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "pt-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		res, err := h.Run(context.Background(), "if getent passwd "+name+" >/dev/null; then userdel "+name+"; fi; if getent group "+name+" >/dev/null; then groupdel "+name+"; fi; true", nil)
		if err == nil {
			err = res.Err("cleanup")
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return h, name
}

func freeGIDs(t *testing.T, h transport.Host, n int) []int64 {
	t.Helper()
	out := run(t, h, fmt.Sprintf("for i in $(seq 42000 42999); do getent group $i >/dev/null || echo $i; done | head -n %d", n))
	var ids []int64
	for _, f := range strings.Fields(out) {
		i, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, i)
	}
	if len(ids) != n {
		t.Fatalf("no %d free gids: %q", n, out)
	}
	return ids
}

func TestFleetGroupLifecycle(t *testing.T) {
	h, name := fleetSetup(t)
	gids := freeGIDs(t, h, 2)

	d := converge(t, h, newGroup(t, map[string]cty.Value{"name": str(name), "gid": resource.Num(gids[0])}))
	if d.Action != resource.Create || fmt.Sprint(d.Changes) != fmt.Sprintf("[{gid  %d false}]", gids[0]) {
		t.Fatalf("%v %+v", d.Action, d.Changes)
	}
	if got := run(t, h, "getent group "+name); got != fmt.Sprintf("%s:x:%d:", name, gids[0]) {
		t.Fatalf("group entry %q", got)
	}

	d = converge(t, h, newGroup(t, map[string]cty.Value{"name": str(name), "gid": resource.Num(gids[1])}))
	if d.Action != resource.Update || fmt.Sprint(d.Changes) != fmt.Sprintf("[{gid %d %d false}]", gids[0], gids[1]) {
		t.Fatalf("%v %+v", d.Action, d.Changes)
	}
	if got := run(t, h, "getent group "+name+" | cut -d: -f3"); got != strconv.FormatInt(gids[1], 10) {
		t.Fatalf("gid %s", got)
	}

	// a gid another group has fails with groupmod's own words
	r := newGroup(t, map[string]cty.Value{"name": str(name), "gid": resource.Num(0)})
	err := r.Apply(context.Background(), h, plan(t, h, r))
	if err == nil || !strings.Contains(err.Error(), "GID '0' already exists") {
		t.Fatalf("want a duplicate gid error, got %v", err)
	}

	d = converge(t, h, newGroup(t, map[string]cty.Value{"name": str(name), "state": str("absent")}))
	if d.Action != resource.Delete {
		t.Fatalf("%v", d.Action)
	}
	run(t, h, "! getent group "+name)
}

func TestFleetSystemGroup(t *testing.T) {
	h, name := fleetSetup(t)
	d := converge(t, h, newGroup(t, map[string]cty.Value{"name": str(name), "system": cty.True}))
	if d.Action != resource.Create || fmt.Sprint(d.Changes) != "[{system  true false}]" {
		t.Fatalf("%v %+v", d.Action, d.Changes)
	}
	gid, err := strconv.Atoi(run(t, h, "getent group "+name+" | cut -d: -f3"))
	if err != nil || gid >= 1000 {
		t.Fatalf("system group got gid %d (%v)", gid, err)
	}
}

// A group that is an account's primary group cannot be removed; the error
// says what to do.
func TestFleetGroupInUse(t *testing.T) {
	h, name := fleetSetup(t)
	converge(t, h, newGroup(t, map[string]cty.Value{"name": str(name)}))
	run(t, h, "useradd -M -g "+name+" "+name)
	r := newGroup(t, map[string]cty.Value{"name": str(name), "state": str("absent")})
	err := r.Apply(context.Background(), h, plan(t, h, r))
	if err == nil || !strings.Contains(err.Error(), "primary group of user") || !strings.Contains(err.Error(), "remove or change that user first") {
		t.Fatalf("want a primary group error, got %v", err)
	}
	run(t, h, "getent group "+name)
}
