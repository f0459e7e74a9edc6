package postgresrole

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport/fleettest"
	"github.com/pinery/pinery/modules/internal/psql"
	"github.com/pinery/pinery/modules/internal/psql/psqltest"
)

// TestFleetRoles runs on h2 (amd64: PostgreSQL under qemu is slow): roles
// planned before PostgreSQL exists, created with SCRAM passwords that
// PostgreSQL accepts over TCP, recognised on the next plan, changed,
// altered, with a hostile name, and dropped.
func TestFleetRoles(t *testing.T) {
	h := fleettest.Dial(t, "h2")
	ctx := context.Background()
	role := func(vals map[string]cty.Value) *Role { return newRole(t, vals) }
	login := func(user, password string) (string, error) {
		res, err := h.Run(ctx, "PGPASSWORD="+shellescape.Quote(password)+" psql -X -At "+
			shellescape.Quote("host=127.0.0.1 dbname=postgres user="+user)+" -c 'SELECT current_user' 2>&1", nil)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(res.Stdout)), res.Err("psql login")
	}

	// Before PostgreSQL is installed: an honest "known after apply".
	if out := resourcetest.Run(t, h, "command -v psql || :"); out != "" {
		t.Fatalf("h2 has PostgreSQL already (%s): an earlier test did not clean up", strings.TrimSpace(out))
	}
	d := resourcetest.Plan(t, h, role(map[string]cty.Value{"name": str("pinery_t1"), "password": str("first secret")}))
	if d.Action != resource.Create || d.Changes[0] != (resource.Change{Field: "postgresql", New: notRunningYet}) {
		t.Fatalf("plan without PostgreSQL: %+v", d)
	}
	if d := resourcetest.Plan(t, h, role(map[string]cty.Value{"name": str("pinery_t1"), "state": str("absent")})); !d.Empty() {
		t.Fatalf("absent without PostgreSQL: %+v", d)
	}

	psqltest.Install(t, h)
	t.Cleanup(func() {
		_, _ = h.Run(ctx, psql.Command(nil), strings.NewReader("DROP ROLE IF EXISTS pinery_t1; DROP ROLE IF EXISTS pinery_t2;"))
	})
	// Statements of every session are logged, so that the test sees
	// whether a password or its verifier would reach the log.
	psqltest.Query(t, h, "ALTER SYSTEM SET log_statement = 'all'; SELECT pg_reload_conf();")

	// The plan made before the install is applied now: it reads again.
	r := role(map[string]cty.Value{"name": str("pinery_t1"), "password": str("first secret")})
	start := time.Now()
	if err := r.Apply(ctx, h, d); err != nil {
		t.Fatalf("apply of the plan made before the install: %v", err)
	}
	if again := resourcetest.Plan(t, h, r); !again.Empty() {
		t.Fatalf("not converged: %+v", again.Changes)
	}
	if who, err := login("pinery_t1", "first secret"); err != nil || who != "pinery_t1" {
		t.Fatalf("login with the password: %q %v", who, err)
	}
	if v := psqltest.Query(t, h, "SELECT rolpassword FROM pg_authid WHERE rolname = 'pinery_t1'"); !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") {
		t.Fatalf("stored %q, want a SCRAM verifier", v)
	}
	verifier1 := strings.TrimSpace(psqltest.Query(t, h, "SELECT rolpassword FROM pg_authid WHERE rolname = 'pinery_t1'"))

	// The same password is recognised: no change, the salt stays.
	if d := resourcetest.Plan(t, h, role(map[string]cty.Value{"name": str("pinery_t1"), "password": str("first secret")})); !d.Empty() {
		t.Fatalf("same password: %+v", d)
	}

	// Another password: an update; the old one stops working.
	d = resourcetest.Converge(t, h, role(map[string]cty.Value{"name": str("pinery_t1"), "password": str("second secret")}))
	if fmt.Sprint(d.Changes) != "[{password (sensitive) (sensitive) true}]" {
		t.Fatalf("password change: %+v", d.Changes)
	}
	if _, err := login("pinery_t1", "first secret"); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("the old password still logs in: %v", err)
	}
	if who, err := login("pinery_t1", "second secret"); err != nil || who != "pinery_t1" {
		t.Fatalf("login with the new password: %q %v", who, err)
	}
	verifier2 := strings.TrimSpace(psqltest.Query(t, h, "SELECT rolpassword FROM pg_authid WHERE rolname = 'pinery_t1'"))

	// A statement that fails while setting a password (a stale plan to
	// create a role that exists) says why, and neither its message nor
	// the server's log holds the verifier.
	stale := role(map[string]cty.Value{"name": str("pinery_t1"), "password": str("third secret")})
	err := stale.Apply(ctx, h, stale.planCreate())
	if err == nil || !strings.Contains(err.Error(), `role "pinery_t1" already exists`) || strings.Contains(err.Error(), "SCRAM") {
		t.Fatalf("creating an existing role: %v", err)
	}

	// Attributes.
	d = resourcetest.Converge(t, h, role(map[string]cty.Value{"name": str("pinery_t1"), "createdb": cty.True, "connection_limit": resource.Num(3)}))
	if fmt.Sprint(d.Changes) != "[{createdb false true false} {connection_limit unlimited 3 false}]" {
		t.Fatalf("attributes: %+v", d.Changes)
	}
	if got := psqltest.Query(t, h, "SELECT rolcreatedb, rolconnlimit, rolcanlogin FROM pg_roles WHERE rolname = 'pinery_t1'"); got != "t|3|t\n" {
		t.Fatalf("attributes in pg_roles: %q", got)
	}
	d = resourcetest.Converge(t, h, role(map[string]cty.Value{"name": str("pinery_t2"), "login": cty.False}))
	if got := psqltest.Query(t, h, "SELECT rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname = 'pinery_t2'"); d.Action != resource.Create || got != "f|t\n" {
		t.Fatalf("group role: %+v, %q", d, got)
	}

	// A hostile name round-trips exactly, and so does its password.
	hostile := "x'; DROP ROLE pinery_t1; --\"\\$$ a\nb ☃"
	d = resourcetest.Converge(t, h, role(map[string]cty.Value{"name": str(hostile), "password": str(`it's "quoted" \ $$`)}))
	if d.Action != resource.Create {
		t.Fatalf("hostile name: %+v", d)
	}
	got := psqltest.Query(t, h, "SELECT "+psql.Hex("rolname")+" FROM pg_authid WHERE rolname LIKE 'x''%'")
	if name, err := psql.DecodeHex(strings.TrimSpace(got)); err != nil || name != hostile {
		t.Fatalf("hostile name stored as %q (%v), want %q", name, err, hostile)
	}
	if d := resourcetest.Plan(t, h, role(map[string]cty.Value{"name": str("pinery_t1"), "createdb": cty.True, "connection_limit": resource.Num(3)})); !d.Empty() {
		t.Fatalf("the hostile name changed pinery_t1: %+v", d)
	}
	resourcetest.Converge(t, h, role(map[string]cty.Value{"name": str(hostile), "state": str("absent")}))
	if got := psqltest.Query(t, h, "SELECT count(*) FROM pg_authid WHERE rolname LIKE 'x''%'"); got != "0\n" {
		t.Fatalf("hostile role not dropped: %s", got)
	}

	// Not running: plan says so, apply fails clearly; once it runs again,
	// the same plan applies.
	resourcetest.Run(t, h, "systemctl stop postgresql@15-main")
	r = role(map[string]cty.Value{"name": str("pinery_t2"), "state": str("absent")})
	d = resourcetest.Plan(t, h, r)
	if d.Action != resource.Delete || d.Changes[0].New != notRunning {
		t.Fatalf("plan while stopped: %+v", d)
	}
	if err := r.Apply(ctx, h, d); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("apply while stopped: %v", err)
	}
	resourcetest.Run(t, h, "systemctl start postgresql@15-main")
	psqltest.WaitReady(t, h)
	if err := r.Apply(ctx, h, d); err != nil {
		t.Fatalf("apply once running: %v", err)
	}
	if got := psqltest.Query(t, h, "SELECT count(*) FROM pg_authid WHERE rolname = 'pinery_t2'"); got != "0\n" {
		t.Fatalf("pinery_t2 not dropped: %s", got)
	}
	t.Logf("roles applied in %s", time.Since(start).Round(time.Millisecond))

	// Nothing secret reached the server's log, though it logs statements.
	log := resourcetest.Run(t, h, "cat /var/log/postgresql/postgresql-15-main.log")
	if !strings.Contains(log, "statement: ") {
		t.Fatalf("the log records no statements; the check below would prove nothing:\n%s", log)
	}
	for _, secret := range []string{"first secret", "second secret", verifier1, verifier2, "SCRAM-SHA-256$", "PASSWORD '"} {
		if strings.Contains(log, secret) {
			t.Errorf("the server log holds %q", secret)
		}
	}
}
