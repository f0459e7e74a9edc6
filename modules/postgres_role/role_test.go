package postgresrole

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name, field, want string
		vals              map[string]cty.Value
	}{
		{"empty name", "name", "empty", map[string]cty.Value{"name": str("")}},
		{"long name", "name", "63 bytes", map[string]cty.Value{"name": str(strings.Repeat("a", 64))}},
		{"NUL", "name", "NUL", map[string]cty.Value{"name": str("a\x00b")}},
		{"reserved pg_", "name", "reserved", map[string]cty.Value{"name": str("pg_monitor2")}},
		{"reserved public", "name", "reserved", map[string]cty.Value{"name": str("public")}},
		{"bad state", "state", `"gone"`, map[string]cty.Value{"name": str("a"), "state": str("gone")}},
		{"drop postgres", "state", "cannot be removed", map[string]cty.Value{"name": str("postgres"), "state": str("absent")}},
		{"postgres demoted", "superuser", "keeps superuser = true", map[string]cty.Value{"name": str("postgres")}},
		{"absent with password", "password", "no effect", map[string]cty.Value{"name": str("a"), "state": str("absent"), "password": str("secret-pw")}},
		{"empty password", "password", "leave it unset", map[string]cty.Value{"name": str("a"), "password": str("")}},
		{"non-ASCII password", "password", "printable ASCII", map[string]cty.Value{"name": str("a"), "password": str("pässwörd")}},
		{"control in password", "password", "printable ASCII", map[string]cty.Value{"name": str("a"), "password": str("pass\nword")}},
		{"limit -2", "connection_limit", "-1 (no limit) or more", map[string]cty.Value{"name": str("a"), "connection_limit": resource.Num(-2)}},
		{"limit 1.5", "connection_limit", "whole number", map[string]cty.Value{"name": str("a"), "connection_limit": cty.NumberFloatVal(1.5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %v, want field %s with %q", err, tt.field, tt.want)
			}
			if strings.Contains(err.Error(), "pässwörd") || strings.Contains(err.Error(), "secret-pw") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	r := newRole(t, map[string]cty.Value{"name": str(`we"ird ☃`), "password": str(`p@ss 'w\rd"`)})
	if r.name != `we"ird ☃` || r.attrs != (attrs{login: true, connLimit: -1}) {
		t.Fatalf("defaults: %+v", r)
	}
}

// rows builds what the probe prints for an existing role.
func rows(login, super, createdb, createrole bool, limit int, password string) string {
	return fmt.Sprintf("@0 role=present\n@0 login=%t\n@0 superuser=%t\n@0 createdb=%t\n@0 createrole=%t\n@0 connection_limit=%d\n@0 password=%s\npsql=0\n",
		login, super, createdb, createrole, limit, password)
}

func TestPlanTable(t *testing.T) {
	d := sha256.Sum256([]byte(pgVerifier))
	pencil := "scram 4096:9R2PUU15qZY6oov+WoJzMg== " + hex.EncodeToString(d[:])
	base := func(kv ...any) map[string]cty.Value {
		m := map[string]cty.Value{"name": str("synapse")}
		for i := 0; i < len(kv); i += 2 {
			switch v := kv[i+1].(type) {
			case string:
				m[kv[i].(string)] = str(v)
			case bool:
				m[kv[i].(string)] = cty.BoolVal(v)
			case int:
				m[kv[i].(string)] = resource.Num(int64(v))
			}
		}
		return m
	}
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  resource.Action
		changes string
		priv    string
		err     string
	}{
		{name: "create", vals: base("password", "pencil"), out: "psql=0\n", action: resource.Create,
			changes: "[{name  synapse false} {login  true false} {superuser  false false} {createdb  false false} {createrole  false false} {connection_limit  unlimited false} {password  (sensitive) true}]",
			priv:    "{create [LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT -1] true}"},
		{name: "create without password", vals: base("login", false, "connection_limit", 3), out: "psql=0\n", action: resource.Create,
			priv: "{create [NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 3] false}"},
		{name: "same password, same attributes", vals: base("password", "pencil"), out: rows(true, false, false, false, -1, pencil), action: resource.NoOp},
		{name: "password not managed", vals: base(), out: rows(true, false, false, false, -1, "none"), action: resource.NoOp},
		{name: "other password", vals: base("password", "pencil2"), out: rows(true, false, false, false, -1, pencil), action: resource.Update,
			changes: "[{password (sensitive) (sensitive) true}]", priv: "{alter [] true}"},
		{name: "no password yet", vals: base("password", "pencil"), out: rows(true, false, false, false, -1, "none"), action: resource.Update,
			changes: "[{password  (sensitive) true}]"},
		{name: "md5 replaced", vals: base("password", "pencil"), out: rows(true, false, false, false, -1, "other"), action: resource.Update,
			changes: "[{password (sensitive) (sensitive) true}]"},
		{name: "attributes", vals: base("createdb", true, "connection_limit", 10), out: rows(false, true, false, false, -1, "none"), action: resource.Update,
			changes: "[{login false true false} {superuser true false false} {createdb false true false} {connection_limit unlimited 10 false}]",
			priv:    "{alter [LOGIN NOSUPERUSER CREATEDB CONNECTION LIMIT 10] false}"},
		{name: "drop", vals: base("state", "absent"), out: rows(true, false, false, false, -1, "none"), action: resource.Delete,
			changes: "[{state present absent false}]", priv: "{drop [] false}"},
		{name: "already absent", vals: base("state", "absent"), out: "psql=0\n", action: resource.NoOp},
		{name: "absent, not installed", vals: base("state", "absent"), out: "server=missing\n", action: resource.NoOp},
		{name: "absent, not running", vals: base("state", "absent"), out: "server=down\n", action: resource.Delete,
			changes: "[{postgresql  not running: known after apply false}]", priv: "{unknown [] false}"},
		{name: "not installed yet", vals: base("password", "pencil"), out: "server=missing\n", action: resource.Create,
			changes: "[{postgresql  not running yet: known after apply false} {name  synapse false} {login  true false} {superuser  false false} {createdb  false false} {createrole  false false} {connection_limit  unlimited false} {password  (sensitive) true}]",
			priv:    "{unknown [] false}"},
		{name: "not running yet", vals: base(), out: "server=down\n", action: resource.Create, priv: "{unknown [] false}"},
		{name: "psql error", vals: base(), out: "psql:<stdin>:1: ERROR:  boom\npsql=3\n", err: "boom"},
		{name: "malformed bool", vals: base(), out: strings.Replace(rows(true, false, false, false, -1, "none"), "login=true", "login=yes", 1), err: "login"},
		{name: "missing row", vals: base(), out: strings.Replace(rows(true, false, false, false, -1, "none"), "@0 createdb=false\n", "", 1), err: "createdb"},
		{name: "malformed password", vals: base("password", "x"), out: rows(true, false, false, false, -1, "scram nope"), err: "malformed password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newRole(t, tt.vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
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
				t.Fatalf("action %v, want %v (%+v)", d.Action, tt.action, d)
			}
			if tt.changes != "" && fmt.Sprint(d.Changes) != tt.changes {
				t.Errorf("changes\n got %v\nwant %v", d.Changes, tt.changes)
			}
			if tt.priv != "" && fmt.Sprint(*d.Private.(*Private)) != tt.priv {
				t.Errorf("private\n got %v\nwant %v", *d.Private.(*Private), tt.priv)
			}
			for _, c := range d.Changes {
				if strings.Contains(c.Old+c.New, "pencil") || strings.Contains(c.Old+c.New, "SCRAM") {
					t.Errorf("the plan shows the password: %+v", c)
				}
			}
		})
	}
}

// A name from a sensitive variable is not shown either.
func TestPlanSensitiveName(t *testing.T) {
	r, err := New(config(t, map[string]cty.Value{"name": str("hidden")}, "name"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Plan(resource.ProbeResult{Stdout: []byte("psql=0\n")})
	if err != nil {
		t.Fatal(err)
	}
	if c := d.Changes[0]; c.Field != "name" || !c.Sensitive {
		t.Fatalf("name change %+v is not sensitive", c)
	}
}

func TestApplySQL(t *testing.T) {
	r := newRole(t, map[string]cty.Value{"name": str("x"), "password": str("pencil")})
	sql, v, err := r.sql(&Private{Op: opCreate, Options: []string{"LOGIN", "CONNECTION LIMIT -1"}, Password: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sql, quiet) || !strings.HasSuffix(sql, `CREATE ROLE :"n" WITH LOGIN CONNECTION LIMIT -1 PASSWORD '`+v+"';\n") {
		t.Fatalf("sql %q", sql)
	}
	if strings.Contains(sql, "pencil") {
		t.Fatal("the SQL holds the password in clear")
	}
	sql, v, err = r.sql(&Private{Op: opAlter, Options: []string{"NOLOGIN"}})
	if err != nil || v != "" || sql != "ALTER ROLE :\"n\" WITH NOLOGIN;\n" {
		t.Fatalf("alter: %q %q %v", sql, v, err)
	}
	if sql, _, _ = r.sql(&Private{Op: opDrop}); sql != "DROP ROLE :\"n\";\n" {
		t.Fatalf("drop: %q", sql)
	}
	if _, _, err = r.sql(&Private{Op: "bogus"}); err == nil {
		t.Fatal("an unknown operation was accepted")
	}
}

// The batched probe asks for every role in one psql and gives each its
// own rows back.
func TestProbeAll(t *testing.T) {
	a := newRole(t, map[string]cty.Value{"name": str("a")})
	b := newRole(t, map[string]cty.Value{"name": str("b'; --")})
	snippet, split := a.ProbeAll([]resource.Resource{a, b})
	if strings.Count(snippet, "runuser") != 1 || !strings.Contains(snippet, `'n1=b'"'"'; --'`) || !strings.Contains(snippet, "rolname = :'n1'") {
		t.Fatalf("snippet:\n%s", snippet)
	}
	rs, err := split(resource.ProbeResult{Stdout: []byte(strings.ReplaceAll(strings.TrimSuffix(rows(true, false, false, false, 5, "none"), "psql=0\n"), "@0", "@1") + "psql=0\n")})
	if err != nil {
		t.Fatal(err)
	}
	da, err := a.Plan(rs[0])
	if err != nil || da.Action != resource.Create {
		t.Fatalf("a: %+v %v", da, err)
	}
	db, err := b.Plan(rs[1])
	if err != nil || db.Action != resource.Update || fmt.Sprint(db.Changes) != "[{connection_limit 5 unlimited false}]" {
		t.Fatalf("b: %+v %v", db, err)
	}
}
