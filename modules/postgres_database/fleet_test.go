package postgresdatabase

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport/fleettest"
	"github.com/pinery/pinery/modules/internal/psql"
	"github.com/pinery/pinery/modules/internal/psql/psqltest"
	postgresrole "github.com/pinery/pinery/modules/postgres_role"
)

// TestFleetDatabases runs on h2 (amd64): Synapse's database planned
// before PostgreSQL exists, created with its owner and the C collation,
// given another owner, refused a new encoding and a drop without
// force_drop, dropped with it; a hostile name round-trips.
func TestFleetDatabases(t *testing.T) {
	h := fleettest.Dial(t, "h2")
	ctx := context.Background()
	db := func(vals map[string]cty.Value) *Database { return newDatabase(t, vals) }
	synapse := map[string]cty.Value{"name": str("pinery_synapse"), "owner": str("pinery_syn"), "lc_collate": str("C"), "lc_ctype": str("C")}
	role := func(name, password string) {
		vals := map[string]cty.Value{"name": str(name)}
		if password != "" {
			vals["password"] = str(password)
		}
		r, err := postgresrole.New(resourcetest.Config(t, "postgres_role", "", vals))
		if err != nil {
			t.Fatal(err)
		}
		resourcetest.Converge(t, h, r)
	}

	if out := resourcetest.Run(t, h, "command -v psql || :"); out != "" {
		t.Fatalf("h2 has PostgreSQL already (%s): an earlier test did not clean up", strings.TrimSpace(out))
	}
	early := resourcetest.Plan(t, h, db(synapse))
	if early.Action != resource.Create || early.Changes[0].New != notRunningYet {
		t.Fatalf("plan without PostgreSQL: %+v", early)
	}

	psqltest.Install(t, h)
	t.Cleanup(func() {
		_, _ = h.Run(ctx, psql.Command(nil), strings.NewReader("DROP DATABASE IF EXISTS pinery_synapse; DROP ROLE IF EXISTS pinery_syn; DROP ROLE IF EXISTS pinery_other;"))
	})
	start := time.Now()
	role("pinery_syn", "synapse secret")
	role("pinery_other", "")

	// The plan made before the install: apply reads again, then creates.
	if err := db(synapse).Apply(ctx, h, early); err != nil {
		t.Fatalf("apply of the plan made before the install: %v", err)
	}
	if again := resourcetest.Plan(t, h, db(synapse)); !again.Empty() {
		t.Fatalf("not converged: %+v", again.Changes)
	}
	if got := psqltest.Query(t, h, "SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'pinery_synapse'"); got != "UTF8|C|C|pinery_syn\n" {
		t.Fatalf("pg_database: %q", got)
	}
	// Synapse's view: its role logs in over TCP with its password and
	// owns what it creates.
	res, err := h.Run(ctx, "PGPASSWORD='synapse secret' psql -X -q -At 'host=127.0.0.1 dbname=pinery_synapse user=pinery_syn' -c 'CREATE TABLE t (x text); SELECT current_user, current_database()' 2>&1", nil)
	if err == nil {
		err = res.Err("psql as pinery_syn")
	}
	if err != nil || string(res.Stdout) != "pinery_syn|pinery_synapse\n" {
		t.Fatalf("using the database: %q %v", res.Stdout, err)
	}

	// Another owner: changed in place.
	other := map[string]cty.Value{"name": str("pinery_synapse"), "owner": str("pinery_other"), "lc_collate": str("C"), "lc_ctype": str("C")}
	d := resourcetest.Converge(t, h, db(other))
	if d.Action != resource.Update || d.Changes[0] != (resource.Change{Field: "owner", Old: "pinery_syn", New: "pinery_other"}) {
		t.Fatalf("owner change: %+v", d)
	}
	if got := psqltest.Query(t, h, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'pinery_synapse'"); got != "pinery_other\n" {
		t.Fatalf("owner: %q", got)
	}

	// What cannot change in place is a plan error.
	for field, value := range map[string]string{"encoding": "LATIN1", "lc_collate": "C.UTF-8"} {
		vals := map[string]cty.Value{"name": str("pinery_synapse"), "lc_collate": str("C"), field: str(value)}
		r := db(vals)
		if _, err := r.Plan(resourcetest.Probe(t, h, r)); err == nil || !strings.Contains(err.Error(), "cannot change a database's encoding or collation in place") {
			t.Fatalf("%s = %s: %v", field, value, err)
		}
	}

	// Dropping needs force_drop.
	r := db(map[string]cty.Value{"name": str("pinery_synapse"), "state": str("absent")})
	if _, err := r.Plan(resourcetest.Probe(t, h, r)); err == nil || !strings.Contains(err.Error(), "force_drop = true") {
		t.Fatalf("drop without force_drop: %v", err)
	}
	if got := psqltest.Query(t, h, "SELECT count(*) FROM pg_database WHERE datname = 'pinery_synapse'"); got != "1\n" {
		t.Fatalf("the database went: %q", got)
	}
	resourcetest.Converge(t, h, db(map[string]cty.Value{"name": str("pinery_synapse"), "state": str("absent"), "force_drop": cty.True}))
	if got := psqltest.Query(t, h, "SELECT count(*) FROM pg_database WHERE datname = 'pinery_synapse'"); got != "0\n" {
		t.Fatalf("not dropped: %q", got)
	}

	// A hostile name round-trips exactly, owner included.
	hostile := "d'; DROP DATABASE postgres; --\"\\$$ a\nb ☃"
	role(hostile, "")
	d = resourcetest.Converge(t, h, db(map[string]cty.Value{"name": str(hostile), "owner": str(hostile)}))
	if d.Action != resource.Create {
		t.Fatalf("hostile name: %+v", d)
	}
	got := psqltest.Query(t, h, "SELECT "+psql.Hex("datname")+" || ' ' || "+psql.Hex("pg_get_userbyid(datdba)")+" FROM pg_database WHERE datname LIKE 'd''%'")
	names := strings.Fields(got)
	if len(names) != 2 {
		t.Fatalf("hostile database: %q", got)
	}
	for _, n := range names {
		if s, err := psql.DecodeHex(n); err != nil || s != hostile {
			t.Fatalf("stored %q (%v), want %q", s, err, hostile)
		}
	}
	resourcetest.Converge(t, h, db(map[string]cty.Value{"name": str(hostile), "state": str("absent"), "force_drop": cty.True}))
	res, err = h.Run(ctx, psql.Command([]psql.Var{{Name: "n", Value: hostile}}), strings.NewReader(`DROP ROLE :"n";`))
	if err == nil {
		err = res.Err("dropping the hostile role")
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := psqltest.Query(t, h, "SELECT count(*) FROM pg_database WHERE datname = 'postgres'"); got != "1\n" {
		t.Fatalf("the postgres database is gone: %q", got)
	}
	t.Logf("databases applied in %s", time.Since(start).Round(time.Millisecond))
}
