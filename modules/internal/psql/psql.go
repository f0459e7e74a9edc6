// Package psql runs SQL on a host's PostgreSQL through psql, as the
// postgres user, for the postgres_* modules.
//
// Values never become SQL text: each is given to psql as a variable on its
// command line (-v n0=VALUE, quoted once for the shell by shellescape) and
// the SQL, fixed text read from stdin, uses it as :'n0' (a literal) or
// :"n0" (an identifier). psql quotes those with libpq's PQescapeLiteral
// and PQescapeIdentifier, which know the connection's encoding and
// standard_conforming_strings: no quoting rules of our own to get wrong
// for names full of quotes, backslashes, $$ or line breaks. Secrets never
// go on a command line, where ps would show them; see the role module.
package psql

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// Where Debian's default cluster listens: the modules manage that cluster.
const (
	SocketDir = "/var/run/postgresql"
	Port      = 5432
)

// Var is a psql variable: :'Name' or :"Name" in the SQL.
type Var struct{ Name, Value string }

// Command is the shell command that runs psql as the postgres user on the
// default cluster's socket, reading SQL on stdin. -X skips ~/.psqlrc,
// ON_ERROR_STOP makes the first error end the run with status 3, the
// terse verbosity keeps statement text (LINE 1: ...) out of messages, and
// the client encoding is UTF-8 whatever the locale (probes run with
// LC_ALL=C, which would make it SQL_ASCII).
func Command(vars []Var) string {
	var b strings.Builder
	// cd /: psql warns when it cannot enter the caller's directory.
	fmt.Fprintf(&b, "cd / && runuser -u postgres -- env PGCLIENTENCODING=UTF8 psql -X -q -A -t -h %s -p %d -d postgres -v ON_ERROR_STOP=1 -v VERBOSITY=terse",
		SocketDir, Port)
	for _, v := range vars {
		b.WriteString(" -v " + shellescape.Quote(v.Name+"="+v.Value))
	}
	return b.String()
}

// endSQL ends the here-document of a probe; no SQL of ours holds it.
const endSQL = "PINERY_SQL"

// Probe returns a read-only snippet that runs sql and prints, one per
// line: "server=missing" alone when PostgreSQL is not installed (no
// postgres user, no psql or no cluster), "server=down" when it is not
// running (no socket), or else the rows of sql, anything psql says, and
// "psql=STATUS" last. Rows must start with '@' to be told from messages.
func Probe(sql string, vars []Var) string {
	if strings.Contains(sql, endSQL) {
		panic("psql: SQL holds the here-document delimiter")
	}
	return fmt.Sprintf(`set +f; set -- /etc/postgresql/*/*/postgresql.conf
if [ ! -e "$1" ] || ! id -u postgres >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
  echo server=missing; exit 0
fi
if [ ! -S %s/.s.PGSQL.%d ]; then echo server=down; exit 0; fi
%s 2>&1 <<'%s'
%s
%s
echo "psql=$?"
`, SocketDir, Port, Command(vars), endSQL, sql, endSQL)
}

// Output is what a Probe printed.
type Output struct {
	Down    bool     // PostgreSQL is not running (or not installed)
	Missing bool     // PostgreSQL is not installed: nothing of it exists
	Rows    []string // the rows, '@' removed
	// Messages is what psql said besides the rows (errors, warnings).
	Messages string
}

// ParseProbe reads a Probe's output. A psql that failed is an error that
// quotes its messages.
func ParseProbe(out resource.ProbeResult) (*Output, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	s := string(out.Stdout)
	switch s {
	case "server=missing\n":
		return &Output{Down: true, Missing: true}, nil
	case "server=down\n":
		return &Output{Down: true}, nil
	}
	body, status, ok := cutLastLine(s)
	st, found := strings.CutPrefix(status, "psql=")
	if !ok || !found {
		return nil, fmt.Errorf("malformed probe output: no psql status (%d bytes)", len(s))
	}
	o := &Output{}
	var msgs []string
	for _, line := range strings.Split(body, "\n") {
		if r, ok := strings.CutPrefix(line, "@"); ok {
			o.Rows = append(o.Rows, r)
		} else if line != "" {
			msgs = append(msgs, line)
		}
	}
	o.Messages = strings.Join(msgs, "\n")
	if st != "0" {
		msg := o.Messages
		if msg == "" {
			msg = "no message"
		}
		return nil, fmt.Errorf("psql failed (exit status %s) reading the current state: %s", st, msg)
	}
	return o, nil
}

// cutLastLine splits "a\nb\nlast\n" into "a\nb" and "last".
func cutLastLine(s string) (body, last string, ok bool) {
	s, ok = strings.CutSuffix(s, "\n")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(s, '\n')
	return s[:max(i, 0)], s[i+1:], true
}

// Exec runs sql on h. Its error quotes what psql said, with each of
// redact (a secret the SQL holds) replaced, should psql ever echo it.
func Exec(ctx context.Context, h resource.Runner, sql string, vars []Var, redact ...string) error {
	res, err := h.Run(ctx, Command(vars), strings.NewReader(sql))
	if err != nil {
		return err
	}
	if res.ExitCode == 0 {
		return nil
	}
	for _, s := range redact {
		if s != "" {
			res.Stdout = []byte(strings.ReplaceAll(string(res.Stdout), s, "(sensitive)"))
			res.Stderr = []byte(strings.ReplaceAll(string(res.Stderr), s, "(sensitive)"))
		}
	}
	if res.ExitCode == 2 {
		return res.Err("psql cannot reach PostgreSQL (not installed or not running?)")
	}
	return res.Err("psql")
}

// CheckName validates a role or database name as PostgreSQL stores it:
// it truncates names to 63 bytes (with a notice only), which would make a
// longer name never converge, and it cannot hold NUL bytes or invalid
// UTF-8 (the clusters pinery makes are UTF8).
func CheckName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("must not be empty")
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("must not contain a NUL byte")
	case !utf8.ValidString(s):
		return fmt.Errorf("must be valid UTF-8")
	case len(s) > 63:
		return fmt.Errorf("is %d bytes long; PostgreSQL names have at most 63 bytes (longer ones are cut short)", len(s))
	}
	return nil
}

// Hex is the SQL that prints text unambiguously, whatever bytes it holds
// (a name with a line break): its UTF-8 bytes in hex. DecodeHex reverses it.
func Hex(expr string) string {
	return "encode(convert_to(" + expr + ", 'UTF8'), 'hex')"
}

// DecodeHex decodes what Hex printed.
func DecodeHex(s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("malformed hex %q in probe output", s)
	}
	return string(b), nil
}

// Rows groups a batched probe's rows, "I key=value", by resource index I
// (0 to n-1), checking that each row is well formed.
func Rows(rows []string, n int) ([]map[string]string, error) {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{}
	}
	for _, r := range rows {
		idx, kv, ok := strings.Cut(r, " ")
		k, v, ok2 := strings.Cut(kv, "=")
		i, err := strconv.Atoi(idx)
		if !ok || !ok2 || err != nil || i < 0 || i >= n || k == "" {
			return nil, fmt.Errorf("malformed probe row %q", r)
		}
		if _, dup := out[i][k]; dup {
			return nil, fmt.Errorf("probe row %q repeats %s", r, k)
		}
		out[i][k] = v
	}
	return out, nil
}

// Split turns the output of a Probe over n resources (rows "I key=value")
// into what each resource's own Probe would have printed: its rows, as
// resource 0. A failure or a server that is down is given to each.
func Split(out resource.ProbeResult, n int) ([]resource.ProbeResult, error) {
	res := make([]resource.ProbeResult, n)
	o, err := ParseProbe(out)
	if err != nil || o.Down {
		for i := range res {
			res[i] = out
		}
		return res, nil
	}
	rows := make([]strings.Builder, n)
	for _, r := range o.Rows {
		idx, rest, _ := strings.Cut(r, " ")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= n {
			return nil, fmt.Errorf("malformed probe row %q", r)
		}
		rows[i].WriteString("@0 " + rest + "\n")
	}
	for i := range res {
		res[i] = resource.ProbeResult{Stdout: []byte(rows[i].String() + "psql=0\n")}
	}
	return res, nil
}
