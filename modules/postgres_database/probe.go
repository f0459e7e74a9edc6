package postgresdatabase

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/modules/internal/psql"
)

var _ resource.BatchProber = (*Database)(nil)

// Probe reads the database with one psql; see probeSQL.
func (d *Database) Probe() string {
	snippet, _ := d.ProbeAll([]resource.Resource{d})
	return snippet
}

// ProbeAll reads every database of the host with one psql: variable nI
// holds the name of database I, and its rows are "@I key=value".
func (d *Database) ProbeAll(rs []resource.Resource) (string, func(resource.ProbeResult) ([]resource.ProbeResult, error)) {
	var sql strings.Builder
	vars := make([]psql.Var, len(rs))
	for i, x := range rs {
		vars[i] = psql.Var{Name: "n" + strconv.Itoa(i), Value: x.(*Database).name}
		sql.WriteString(probeSQL(i))
	}
	return psql.Probe(sql.String(), vars), func(out resource.ProbeResult) ([]resource.ProbeResult, error) {
		return psql.Split(out, len(rs))
	}
}

// probeSQL prints, for a database that exists:
//
//	database=present
//	owner=HEX          names and locales in hex: they may hold line breaks
//	encoding=UTF8
//	lc_collate=HEX
//	lc_ctype=HEX
func probeSQL(i int) string {
	return fmt.Sprintf(`SELECT '@%d ' || x FROM pg_database d, LATERAL unnest(ARRAY[
  'database=present',
  'owner=' || %s,
  'encoding=' || pg_encoding_to_char(d.encoding),
  'lc_collate=' || %s,
  'lc_ctype=' || %s
]) AS x WHERE d.datname = :'n%d';
`, i, psql.Hex("pg_get_userbyid(d.datdba)"), psql.Hex("d.datcollate"), psql.Hex("d.datctype"), i)
}

// observed is a database as the probe saw it.
type observed struct {
	down, missing   bool
	present         bool
	owner, encoding string
	collate, ctype  string
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
	if kv["database"] != "present" || len(kv) != 5 || kv["encoding"] == "" {
		return nil, fmt.Errorf("malformed probe output: %d rows for the database", len(kv))
	}
	ob := &observed{present: true, encoding: kv["encoding"]}
	for k, dst := range map[string]*string{"owner": &ob.owner, "lc_collate": &ob.collate, "lc_ctype": &ob.ctype} {
		if *dst, err = psql.DecodeHex(kv[k]); err != nil {
			return nil, err
		}
	}
	return ob, nil
}
