package postgresdatabase

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func TestNewValidation(t *testing.T) {
	base := func(kv ...string) map[string]cty.Value {
		m := map[string]cty.Value{"name": str("synapse")}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = str(kv[i+1])
		}
		return m
	}
	tests := []struct {
		name, field, want string
		vals              map[string]cty.Value
	}{
		{"empty name", "name", "empty", base("name", "")},
		{"long name", "name", "63 bytes", base("name", strings.Repeat("d", 64))},
		{"bad owner", "owner", "NUL", base("owner", "a\x00")},
		{"bad encoding", "encoding", `"UTF16" is not an encoding`, base("encoding", "UTF16")},
		{"bad collate", "lc_collate", "not a locale", base("lc_collate", "C'; --")},
		{"bad ctype", "lc_ctype", "not a locale", base("lc_ctype", "")},
		{"bad template", "template", "empty", base("template", "")},
		{"bad state", "state", `"gone"`, base("state", "gone")},
		{"drop template1", "state", "never dropped", base("name", "template1", "state", "absent")},
		{"force_drop present", "force_drop", "no effect", func() map[string]cty.Value {
			m := base()
			m["force_drop"] = cty.True
			return m
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %v, want field %s with %q", err, tt.field, tt.want)
			}
		})
	}
	for in, want := range map[string]string{"UTF8": "UTF8", "utf-8": "UTF8", "Latin-1": "LATIN1", "iso_8859_5": "ISO_8859_5", "sql_ascii": "SQL_ASCII", "win1252": "WIN1252"} {
		if d := newDatabase(t, base("encoding", in)); d.encoding != want {
			t.Errorf("encoding %q → %q, want %q", in, d.encoding, want)
		}
	}
	d := newDatabase(t, base())
	if d.encoding != "UTF8" || d.template != "template0" || d.owner != "" || d.collate != "" {
		t.Errorf("defaults: %+v", d)
	}
}

func hx(s string) string { return hex.EncodeToString([]byte(s)) }

func rows(owner, enc, collate, ctype string) string {
	return fmt.Sprintf("@0 database=present\n@0 owner=%s\n@0 encoding=%s\n@0 lc_collate=%s\n@0 lc_ctype=%s\npsql=0\n", hx(owner), enc, hx(collate), hx(ctype))
}

func TestPlanTable(t *testing.T) {
	synapse := map[string]cty.Value{"name": str("synapse"), "owner": str("synapse"), "lc_collate": str("C"), "lc_ctype": str("C")}
	with := func(kv ...any) map[string]cty.Value {
		m := map[string]cty.Value{}
		for k, v := range synapse {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			switch v := kv[i+1].(type) {
			case string:
				m[kv[i].(string)] = str(v)
			case bool:
				m[kv[i].(string)] = cty.BoolVal(v)
			case nil:
				delete(m, kv[i].(string))
			}
		}
		return m
	}
	absent := map[string]cty.Value{"name": str("synapse"), "state": str("absent")}
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  resource.Action
		changes string
		op      string
		err     string
	}{
		{name: "create", vals: synapse, out: "psql=0\n", action: resource.Create, op: opCreate,
			changes: "[{name  synapse false} {owner  synapse false} {encoding  UTF8 false} {lc_collate  C false} {lc_ctype  C false} {template  template0 false}]"},
		{name: "converged", vals: synapse, out: rows("synapse", "UTF8", "C", "C"), action: resource.NoOp},
		{name: "owner changes", vals: synapse, out: rows("postgres", "UTF8", "C", "C"), action: resource.Update, op: opOwner,
			changes: "[{owner postgres synapse false}]"},
		{name: "owner not managed", vals: with("owner", nil), out: rows("postgres", "UTF8", "C", "C"), action: resource.NoOp},
		{name: "locales not managed", vals: with("lc_collate", nil, "lc_ctype", nil), out: rows("synapse", "UTF8", "C.UTF-8", "C.UTF-8"), action: resource.NoOp},
		{name: "encoding differs", vals: synapse, out: rows("synapse", "LATIN1", "C", "C"),
			err: `the database has encoding "LATIN1", not "UTF8", and PostgreSQL cannot change a database's encoding or collation in place: dump its data, drop it (state = "absent", force_drop = true) and create it again, or set encoding = "LATIN1"`},
		{name: "collation differs", vals: synapse, out: rows("synapse", "UTF8", "C.UTF-8", "C"), err: `lc_collate "C.UTF-8", not "C"`},
		{name: "ctype differs", vals: synapse, out: rows("synapse", "UTF8", "C", "en_US.UTF-8"), err: `lc_ctype "en_US.UTF-8", not "C"`},
		{name: "drop refused", vals: absent, out: rows("synapse", "UTF8", "C", "C"), err: "set force_drop = true"},
		{name: "drop", vals: with("state", "absent", "force_drop", true), out: rows("synapse", "UTF8", "C", "C"), action: resource.Delete, op: opDrop,
			changes: "[{state present absent (all its data is deleted) false}]"},
		{name: "already absent", vals: absent, out: "psql=0\n", action: resource.NoOp},
		{name: "absent, not installed", vals: absent, out: "server=missing\n", action: resource.NoOp},
		{name: "absent, not running", vals: absent, out: "server=down\n", action: resource.Delete, op: opUnknown,
			changes: "[{postgresql  not running: known after apply false}]"},
		{name: "not running yet", vals: synapse, out: "server=missing\n", action: resource.Create, op: opUnknown,
			changes: "[{postgresql  not running yet: known after apply false} {name  synapse false} {owner  synapse false} {encoding  UTF8 false} {lc_collate  C false} {lc_ctype  C false} {template  template0 false}]"},
		{name: "psql error", vals: synapse, out: "psql: error: FATAL: boom\npsql=2\n", err: "boom"},
		{name: "bad hex", vals: synapse, out: strings.Replace(rows("a", "UTF8", "C", "C"), "owner=61", "owner=zz", 1), err: "malformed hex"},
		{name: "missing row", vals: synapse, out: "@0 database=present\n@0 encoding=UTF8\npsql=0\n", err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newDatabase(t, tt.vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
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
			if tt.op != "" && d.Private.(*Private).Op != tt.op {
				t.Errorf("op %v, want %s", d.Private, tt.op)
			}
		})
	}
}

// An owner from a sensitive variable is shown as (sensitive), and a
// mismatch of a sensitive locale is reported without its value.
func TestPlanSensitive(t *testing.T) {
	r, err := New(config(t, map[string]cty.Value{"name": str("db"), "owner": str("hidden"), "lc_collate": str("C")}, "owner", "lc_collate"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Plan(resource.ProbeResult{Stdout: []byte(rows("postgres", "UTF8", "C", "C"))})
	if err != nil || !d.Changes[0].Sensitive {
		t.Fatalf("owner change %+v %v is not sensitive", d, err)
	}
	_, err = r.Plan(resource.ProbeResult{Stdout: []byte(rows("hidden", "UTF8", "POSIX", "C"))})
	if err == nil || strings.Contains(err.Error(), `"C"`) || strings.Contains(err.Error(), "POSIX") {
		t.Fatalf("sensitive collation mismatch: %v", err)
	}
}

func TestApplySQL(t *testing.T) {
	d := newDatabase(t, map[string]cty.Value{"name": str("s"), "owner": str("o"), "lc_collate": str("C"), "lc_ctype": str("C")})
	sql, vars, err := d.sql(opCreate)
	if err != nil {
		t.Fatal(err)
	}
	if sql != "CREATE DATABASE :\"n\" WITH TEMPLATE = :\"t\" ENCODING = :'e' LC_COLLATE = :'c' LC_CTYPE = :'ct' OWNER = :\"o\";\n" ||
		fmt.Sprint(varsOf(vars)) != "[{n s} {t template0} {e UTF8} {c C} {ct C} {o o}]" {
		t.Fatalf("create: %q %v", sql, varsOf(vars))
	}
	d = newDatabase(t, map[string]cty.Value{"name": str("s")})
	if sql, _, _ := d.sql(opCreate); sql != "CREATE DATABASE :\"n\" WITH TEMPLATE = :\"t\" ENCODING = :'e';\n" {
		t.Fatalf("create, defaults: %q", sql)
	}
	if sql, _, _ := d.sql(opDrop); sql != "DROP DATABASE :\"n\";\n" {
		t.Fatalf("drop: %q", sql)
	}
	if _, _, err := d.sql("bogus"); err == nil {
		t.Fatal("an unknown operation was accepted")
	}
}

func TestProbeAll(t *testing.T) {
	a := newDatabase(t, map[string]cty.Value{"name": str("a")})
	b := newDatabase(t, map[string]cty.Value{"name": str("b\nc")})
	snippet, split := a.ProbeAll([]resource.Resource{a, b})
	if strings.Count(snippet, "runuser") != 1 || !strings.Contains(snippet, "datname = :'n1'") {
		t.Fatalf("snippet:\n%s", snippet)
	}
	rs, err := split(resource.ProbeResult{Stdout: []byte(strings.ReplaceAll(strings.TrimSuffix(rows("x", "UTF8", "C", "C"), "psql=0\n"), "@0", "@1") + "psql=0\n")})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := a.Plan(rs[0]); err != nil || d.Action != resource.Create {
		t.Fatalf("a: %+v %v", d, err)
	}
	if d, err := b.Plan(rs[1]); err != nil || !d.Empty() {
		t.Fatalf("b: %+v %v", d, err)
	}
}
