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
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

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

func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "user", "", vals)
}

// The engine's way of driving a resource, shared by every module's tests.
func probePlan(t *testing.T, h transport.Host, r resource.Resource) (*resource.Diff, error) {
	t.Helper()
	return r.Plan(resourcetest.Probe(t, h, r))
}

func plan(t *testing.T, h transport.Host, r resource.Resource) *resource.Diff {
	t.Helper()
	return resourcetest.Plan(t, h, r)
}

func converge(t *testing.T, h transport.Host, r resource.Resource) *resource.Diff {
	t.Helper()
	return resourcetest.Converge(t, h, r)
}
