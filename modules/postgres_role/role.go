// Package postgresrole is the `postgres_role` resource type: a role (a
// user) of the host's PostgreSQL, with its attributes and a password kept
// as a SCRAM-SHA-256 verifier computed on the controller.
package postgresrole

import (
	"math/big"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/modules/internal/psql"
)

func init() {
	resource.Register(&resource.Type{
		Name:    "postgres_role",
		Summary: "A PostgreSQL role with its login attributes and a SCRAM-SHA-256 password that never leaves the controller in clear.",
		Doc: `Manages one role (a user) of the host's PostgreSQL: Debian's default cluster, reached on
its local socket (` + "`/var/run/postgresql`" + `, port 5432) by running ` + "`psql`" + ` as the ` + "`postgres`" + `
user (` + "`runuser`" + `). pinery connects as root, or through sudo.

**Passwords.** The password is never sent to the host. pinery computes its SCRAM-SHA-256
verifier on the controller (RFC 5802 and 7677: a random 16-byte salt, 4096 iterations,
as psql's ` + "`\\password`" + ` does) and stores that with ` + "`ALTER ROLE ... PASSWORD`" + `, in SQL given to
psql on its standard input (never on a command line, where ` + "`ps`" + ` would show it), with
statement logging turned off for that session. To compare, the probe reads only the
stored verifier's salt, its iteration count and a SHA-256 digest of it, and the plan
recomputes the verifier of the given password with that salt: when they match, nothing
changes (the salt is not renewed on every run). A password stored otherwise (an MD5
hash) is replaced. Plans show ` + "`password: (sensitive)`" + ` and never the password or the
verifier. The password must be printable ASCII: PostgreSQL normalizes other passwords with
SASLprep, which pinery does not reproduce. Without ` + "`password`" + ` the password is not managed
(a new role has none, and can log in only where ` + "`pg_hba.conf`" + ` trusts the local user: peer).

**Reading.** One psql for all the roles of a host reads ` + "`pg_authid`" + `. When PostgreSQL is not
installed or not running yet (its package is installed by an earlier resource of the same
run), planning does not fail: the plan shows the role to be created with
` + "`postgresql: \"not running yet: known after apply\"`" + `, and apply reads the role again before
acting. Apply fails clearly if PostgreSQL is still not running by then.

**Applying.** ` + "`CREATE ROLE`" + `, ` + "`ALTER ROLE`" + ` with the attributes that differ, or ` + "`DROP ROLE`" + `.
Names reach psql as variables and are quoted by psql itself (libpq's identifier and literal
escaping), so names with quotes, backslashes, semicolons or line breaks are safe. Attributes
not managed here (` + "`INHERIT`" + `, ` + "`REPLICATION`" + `, ` + "`BYPASSRLS`" + `, ` + "`VALID UNTIL`" + `, memberships) are left
as they are. ` + "`DROP ROLE`" + ` fails while the role owns a database or other objects or holds
privileges; PostgreSQL's error says which: drop them or give them another owner first (a
` + "`postgres_database`" + ` with another ` + "`owner`" + `).`,
		Example: `postgres_role "synapse" {
  name       = "synapse"
  password   = var.synapse_db_password   # a sensitive variable
  depends_on = [service.postgresql]
}

postgres_role "metrics" {
  name             = "metrics"
  connection_limit = 2
}

postgres_role "legacy" {
  name  = "legacy_app"
  state = "absent"
}`,
		Fields: []resource.Field{
			{Name: "name", Type: cty.String, Required: true,
				Doc: "The role's name, exactly as PostgreSQL keeps it (case included): any characters but NUL, at most 63 bytes. PostgreSQL reserves names starting with `pg_`, `public` and `none`."},
			{Name: "password", Type: cty.String, Sensitive: true,
				Doc: "The password (printable ASCII), stored as a SCRAM-SHA-256 verifier computed on the controller. Unset: not managed."},
			{Name: "login", Type: cty.Bool, Default: cty.True,
				Doc: "Whether the role may log in (`LOGIN`); `false` makes a group role."},
			{Name: "superuser", Type: cty.Bool, Default: cty.False,
				Doc: "Whether the role is a superuser (`SUPERUSER`)."},
			{Name: "createdb", Type: cty.Bool, Default: cty.False,
				Doc: "Whether the role may create databases (`CREATEDB`)."},
			{Name: "createrole", Type: cty.Bool, Default: cty.False,
				Doc: "Whether the role may create and alter other roles (`CREATEROLE`)."},
			{Name: "connection_limit", Type: cty.Number, Default: cty.NumberIntVal(-1),
				Doc: "How many connections the role may hold at once (`CONNECTION LIMIT`); -1: no limit. Superusers are not limited."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"` (`DROP ROLE`)."},
		},
		New: New,
	})
}

// Role is one configured role.
type Role struct {
	name      string
	absent    bool
	password  string // "" when not managed
	attrs     attrs
	sensitive map[string]bool
}

// attrs are the role attributes this module manages.
type attrs struct {
	login, superuser, createdb, createrole bool
	connLimit                              int64
}

var _ resource.Resource = (*Role)(nil)

// New validates a postgres_role block.
func New(cfg resource.Config) (resource.Resource, error) {
	r := &Role{name: cfg.String("name"), sensitive: cfg.Sensitive}
	if err := psql.CheckName(r.name); err != nil {
		return nil, cfg.Errorf("name", "%v", err)
	}
	if strings.HasPrefix(r.name, "pg_") || r.name == "public" || r.name == "none" {
		return nil, cfg.Errorf("name", "%q is reserved by PostgreSQL (names starting with pg_, public, none)", r.name)
	}
	switch st := cfg.String("state"); st {
	case "present":
	case "absent":
		r.absent = true
		if r.name == "postgres" {
			return nil, cfg.Errorf("state", "the postgres role is the cluster's own superuser; it cannot be removed")
		}
		for _, f := range []string{"password", "connection_limit"} {
			if cfg.IsSet(f) && !(f == "connection_limit" && cfg.Int(f) == -1) {
				return nil, cfg.Errorf(f, "has no effect with state = \"absent\"; remove it")
			}
		}
		return r, nil
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if cfg.IsSet("password") {
		r.password = cfg.String("password")
		if r.password == "" {
			return nil, cfg.Errorf("password", "must not be empty; leave it unset to keep the role's password as it is")
		}
		for _, c := range r.password {
			if c < 0x20 || c > 0x7e {
				// The message must not quote the password.
				return nil, cfg.Errorf("password", "must be printable ASCII (letters, digits, punctuation, space): PostgreSQL normalizes other characters (SASLprep), which pinery does not reproduce")
			}
		}
	}
	limit := cfg.Values["connection_limit"]
	if !limit.IsNull() {
		bf := limit.AsBigFloat()
		if !bf.IsInt() || bf.Cmp(big.NewFloat(-1)) < 0 || bf.Cmp(big.NewFloat(1<<31-1)) > 0 {
			return nil, cfg.Errorf("connection_limit", "must be a whole number, -1 (no limit) or more, not %s", bf.Text('g', -1))
		}
		r.attrs.connLimit = cfg.Int("connection_limit")
	} else {
		r.attrs.connLimit = -1
	}
	r.attrs.login = cfg.Bool("login")
	r.attrs.superuser = cfg.Bool("superuser")
	if r.name == "postgres" && (!r.attrs.superuser || !r.attrs.login) {
		return nil, cfg.Errorf("superuser", "the postgres role is the cluster's own superuser: it keeps superuser = true and login = true")
	}
	r.attrs.createdb = cfg.Bool("createdb")
	r.attrs.createrole = cfg.Bool("createrole")
	return r, nil
}
