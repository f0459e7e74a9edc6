package user

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// config builds a Config as the engine does: every schema field present,
// defaults applied, null when unset, schema-sensitive fields marked.
func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("user")
	if !ok {
		t.Fatal("user type not registered")
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
		if f.Sensitive {
			cfg.Sensitive[f.Name] = true
		}
	}
	for k := range vals {
		if _, ok := cfg.Values[k]; !ok {
			t.Fatalf("no field %q in the schema", k)
		}
	}
	return cfg
}

func newUser(t *testing.T, vals map[string]cty.Value) *User {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*User)
}

func str(s string) cty.Value { return cty.StringVal(s) }

func list(ss ...string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.StringVal(s)
	}
	return cty.ListVal(vs)
}

// uniqueName is a fresh account or group name for a fleet test.
func uniqueName(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "pt-" + hex.EncodeToString(b[:])
}

// dial connects to a fleet host (skipping without a fleet).
func dial(t *testing.T) transport.Host {
	t.Helper()
	return fleettest.Dial(t, "h1")
}

// run runs a command on the host and fails the test on a non-zero exit.
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

// cleanup removes accounts and groups when the test ends, through the
// test's own connection (the fleet lock is held until then).
func cleanup(t *testing.T, h transport.Host, users, groups []string) {
	t.Helper()
	t.Cleanup(func() {
		var b strings.Builder
		for _, u := range users {
			b.WriteString("if getent passwd " + u + " >/dev/null; then userdel -r " + u + " 2>/dev/null; fi\n")
		}
		for _, g := range groups {
			b.WriteString("if getent group " + g + " >/dev/null; then groupdel " + g + "; fi\n")
		}
		b.WriteString("true\n")
		res, err := h.Run(context.Background(), b.String(), nil)
		if err == nil {
			err = res.Err("cleanup")
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// probePlan runs the probe as the engine does and plans.
func probePlan(t *testing.T, h transport.Host, r resource.Resource) (*resource.Diff, error) {
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
	return r.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
}

func plan(t *testing.T, h transport.Host, r resource.Resource) *resource.Diff {
	t.Helper()
	d, err := probePlan(t, h, r)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return d
}

// converge plans and applies, checks that a second probe and plan are
// empty, and returns the first diff.
func converge(t *testing.T, h transport.Host, r resource.Resource) *resource.Diff {
	t.Helper()
	d := plan(t, h, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Apply(ctx, h, d); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if again := plan(t, h, r); !again.Empty() {
		t.Fatalf("not converged after apply: %+v", again.Changes)
	}
	return d
}
