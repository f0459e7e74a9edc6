// Package postgresdatabase is the `postgres_database` resource type: a
// database of the host's PostgreSQL, with its owner, encoding and
// collation.
package postgresdatabase

import (
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/modules/internal/psql"
)

func init() {
	resource.Register(&resource.Type{
		Name:    "postgres_database",
		Summary: "A PostgreSQL database with its owner, encoding and collation; dropped only when told that its data may go.",
		Doc: `Manages one database of the host's PostgreSQL: Debian's default cluster, reached on its
local socket (` + "`/var/run/postgresql`" + `, port 5432) by running ` + "`psql`" + ` as the ` + "`postgres`" + ` user
(` + "`runuser`" + `). pinery connects as root, or through sudo.

**Creating.** ` + "`CREATE DATABASE`" + ` with the ` + "`owner`" + `, ` + "`encoding`" + `, ` + "`lc_collate`" + `, ` + "`lc_ctype`" + ` and
` + "`template`" + ` given. The default template is ` + "`template0`" + `, the one PostgreSQL allows to copy with
another encoding or collation than the cluster's; Synapse, for one, needs
` + "`ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`" + `. The owner must exist by then: declare its
` + "`postgres_role`" + ` and refer to it (` + "`owner = postgres_role.synapse.name`" + `), which orders the two.

**Encoding and collation cannot change.** PostgreSQL fixes a database's encoding and
collation when it creates it. An existing database whose encoding, ` + "`lc_collate`" + ` or
` + "`lc_ctype`" + ` differ from the ones given is an error at plan time, naming both: dump the
data, drop the database and create it again (or write what it has). ` + "`lc_collate`" + ` and
` + "`lc_ctype`" + ` left unset are not compared (a new database gets the template's), and
` + "`template`" + ` only matters when creating.

**Owner.** A different owner is changed in place (` + "`ALTER DATABASE ... OWNER TO`" + `); this
changes the database's owner, not the owner of the tables inside it. Unset: not managed
(a new database is owned by ` + "`postgres`" + `).

**Dropping.** ` + "`state = \"absent\"`" + ` drops the database and every byte of data in it, so it
also needs ` + "`force_drop = true`" + `; without it, a database that exists is an error at plan
time, and nothing is dropped. ` + "`DROP DATABASE`" + ` fails while clients are connected: stop them
first (a ` + "`service`" + ` with ` + "`state = \"stopped\"`" + ` that this resource depends on).

**Reading.** One psql for all the databases of a host reads ` + "`pg_database`" + `. When PostgreSQL
is not installed or not running yet (its package is installed earlier in the same run),
planning does not fail: the plan shows the database to be created with
` + "`postgresql: \"not running yet: known after apply\"`" + `, and apply reads it again and checks
all of the above before acting. Names reach psql as variables, quoted by psql itself, so
any name is safe.`,
		Example: `postgres_database "synapse" {
  name       = "synapse"
  owner      = postgres_role.synapse.name
  encoding   = "UTF8"
  lc_collate = "C"
  lc_ctype   = "C"
}

postgres_database "scratch" {
  name       = "scratch"
  state      = "absent"
  force_drop = true # its data may go
}`,
		Fields: []resource.Field{
			{Name: "name", Type: cty.String, Required: true,
				Doc: "The database's name, exactly as PostgreSQL keeps it: any characters but NUL, at most 63 bytes."},
			{Name: "owner", Type: cty.String,
				Doc: "The role that owns the database. Unset: not managed (a new database is owned by `postgres`)."},
			{Name: "encoding", Type: cty.String, Default: cty.StringVal("UTF8"),
				Doc: "The character set, as PostgreSQL names it (`UTF8`, `LATIN1`, `SQL_ASCII`...; case, `-` and `_` do not matter). Fixed at creation."},
			{Name: "lc_collate", Type: cty.String,
				Doc: "The collation (`LC_COLLATE`), a locale the host has: `C`, `C.UTF-8`, `en_US.UTF-8`. Fixed at creation. Unset: the template's, and not compared."},
			{Name: "lc_ctype", Type: cty.String,
				Doc: "The character classification (`LC_CTYPE`), a locale the host has. Fixed at creation. Unset: the template's, and not compared."},
			{Name: "template", Type: cty.String, Default: cty.StringVal("template0"),
				Doc: "The database copied to create this one. Used only when creating."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"` (`DROP DATABASE`, with `force_drop`)."},
			{Name: "force_drop", Type: cty.Bool, Default: cty.False,
				Doc: "Allow `state = \"absent\"` to drop the database and all its data. Without it, dropping is refused at plan time."},
		},
		New: New,
	})
}

// Database is one configured database.
type Database struct {
	name, owner, encoding string
	collate, ctype        string // "" when not managed
	template              string
	absent, forceDrop     bool
	sensitive             map[string]bool
}

var _ resource.Resource = (*Database)(nil)

// encodings are PostgreSQL's server encodings (src/common/encnames.c).
var encodings = []string{
	"SQL_ASCII", "UTF8", "EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "EUC_JIS_2004", "MULE_INTERNAL",
	"LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7", "LATIN8", "LATIN9", "LATIN10",
	"ISO_8859_5", "ISO_8859_6", "ISO_8859_7", "ISO_8859_8",
	"WIN866", "WIN874", "WIN1250", "WIN1251", "WIN1252", "WIN1253", "WIN1254", "WIN1255", "WIN1256", "WIN1257", "WIN1258",
	"KOI8R", "KOI8U",
}

// cleanEncoding is PostgreSQL's clean_encoding_name: lower case, letters
// and digits only, so that "utf-8" is UTF8.
func cleanEncoding(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// canonicalEncoding returns PostgreSQL's name for an encoding, or "".
func canonicalEncoding(s string) string {
	c := cleanEncoding(s)
	for _, e := range encodings {
		if cleanEncoding(e) == c {
			return e
		}
	}
	return ""
}

var localeSyntax = regexp.MustCompile(`^[A-Za-z0-9_.@-]+$`)

// New validates a postgres_database block.
func New(cfg resource.Config) (resource.Resource, error) {
	d := &Database{name: cfg.String("name"), sensitive: cfg.Sensitive, forceDrop: cfg.Bool("force_drop")}
	if err := psql.CheckName(d.name); err != nil {
		return nil, cfg.Errorf("name", "%v", err)
	}
	switch st := cfg.String("state"); st {
	case "present":
	case "absent":
		d.absent = true
		if d.name == "template0" || d.name == "template1" {
			return nil, cfg.Errorf("state", "%s is a template PostgreSQL needs; it is never dropped", d.name)
		}
		return d, nil
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if d.forceDrop {
		return nil, cfg.Errorf("force_drop", "has no effect with state = \"present\"; remove it")
	}
	if cfg.IsSet("owner") {
		d.owner = cfg.String("owner")
		if err := psql.CheckName(d.owner); err != nil {
			return nil, cfg.Errorf("owner", "%v", err)
		}
	}
	e := cfg.String("encoding")
	if d.encoding = canonicalEncoding(e); d.encoding == "" {
		return nil, cfg.Errorf("encoding", "%q is not an encoding PostgreSQL can store a database in; use one of %s", e, strings.Join(encodings, ", "))
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"lc_collate", &d.collate}, {"lc_ctype", &d.ctype}} {
		if !cfg.IsSet(f.name) {
			continue
		}
		*f.dst = cfg.String(f.name)
		if !localeSyntax.MatchString(*f.dst) {
			return nil, cfg.Errorf(f.name, "%q is not a locale name (like C, C.UTF-8 or en_US.UTF-8)", *f.dst)
		}
	}
	d.template = cfg.String("template")
	if err := psql.CheckName(d.template); err != nil {
		return nil, cfg.Errorf("template", "%v", err)
	}
	return d, nil
}
