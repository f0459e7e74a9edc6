package postgresrole

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/modules/internal/psql"
)

var _ resource.BatchProber = (*Role)(nil)

// Probe reads the role with one psql; see probeSQL.
func (r *Role) Probe() string {
	snippet, _ := r.ProbeAll([]resource.Resource{r})
	return snippet
}

// ProbeAll reads every role of the host with one psql: variable nI holds
// the name of role I, and its rows are "@I key=value".
func (r *Role) ProbeAll(rs []resource.Resource) (string, func(resource.ProbeResult) ([]resource.ProbeResult, error)) {
	var sql strings.Builder
	vars := make([]psql.Var, len(rs))
	for i, x := range rs {
		vars[i] = psql.Var{Name: "n" + strconv.Itoa(i), Value: x.(*Role).name}
		sql.WriteString(probeSQL(i))
	}
	return psql.Probe(sql.String(), vars), func(out resource.ProbeResult) ([]resource.ProbeResult, error) {
		return psql.Split(out, len(rs))
	}
}

// probeSQL prints, for a role that exists:
//
//	role=present
//	login=true|false  superuser=…  createdb=…  createrole=…
//	connection_limit=N
//	password=none | other | scram ITERATIONS:SALT SHA256HEX
//
// The password row gives a digest of the verifier, not the verifier: the
// probe's output need not hold a secret to compare passwords.
func probeSQL(i int) string {
	return fmt.Sprintf(`SELECT '@%d ' || x FROM pg_authid a, LATERAL unnest(ARRAY[
  'role=present',
  'login=' || a.rolcanlogin,
  'superuser=' || a.rolsuper,
  'createdb=' || a.rolcreatedb,
  'createrole=' || a.rolcreaterole,
  'connection_limit=' || a.rolconnlimit,
  'password=' || CASE
    WHEN a.rolpassword IS NULL THEN 'none'
    WHEN a.rolpassword ~ '^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$' THEN
      'scram ' || split_part(a.rolpassword, '$', 2) || ' ' || encode(sha256(convert_to(a.rolpassword, 'UTF8')), 'hex')
    ELSE 'other' END
]) AS x WHERE a.rolname = :'n%d';
`, i, i)
}

// observed is a role as the probe saw it.
type observed struct {
	down     bool // PostgreSQL is not running (or not installed)
	missing  bool // PostgreSQL is not installed: no role exists
	present  bool
	attrs    attrs
	password stored
}

func parseProbe(out resource.ProbeResult) (*observed, error) {
	o, err := psql.ParseProbe(out)
	if err != nil {
		return nil, err
	}
	if o.Down {
		return &observed{down: true, missing: o.Missing}, nil
	}
	rows, err := psql.Rows(o.Rows, 1)
	if err != nil {
		return nil, err
	}
	kv := rows[0]
	if len(kv) == 0 {
		return &observed{}, nil
	}
	ob := &observed{present: true}
	bools := map[string]*bool{"login": &ob.attrs.login, "superuser": &ob.attrs.superuser, "createdb": &ob.attrs.createdb, "createrole": &ob.attrs.createrole}
	for k, p := range bools {
		v, ok := kv[k]
		if !ok || (v != "true" && v != "false") {
			return nil, fmt.Errorf("malformed probe output: %s=%q", k, v)
		}
		*p = v == "true"
	}
	if ob.attrs.connLimit, err = strconv.ParseInt(kv["connection_limit"], 10, 64); err != nil {
		return nil, fmt.Errorf("malformed probe output: connection_limit=%q", kv["connection_limit"])
	}
	if ob.password, err = parseStored(kv["password"]); err != nil {
		return nil, err
	}
	if kv["role"] != "present" || len(kv) != 7 {
		return nil, fmt.Errorf("malformed probe output: %d rows for the role", len(kv))
	}
	return ob, nil
}
