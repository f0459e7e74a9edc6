package postgresdatabase

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/modules/internal/psql"
)

// Apply creates the database, changes its owner or drops it, as the plan
// says.
func (d *Database) Apply(ctx context.Context, h resource.Runner, diff *resource.Diff) error {
	if diff.Empty() {
		return nil
	}
	priv, ok := diff.Private.(*Private)
	if !ok {
		return errors.New("the plan carries no postgres_database changes")
	}
	if priv.Op == opUnknown {
		// Planned before PostgreSQL ran: read the database now, and check
		// and do what that plan says.
		res, err := h.Run(ctx, d.Probe(), nil)
		if err != nil {
			return err
		}
		if diff, err = d.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode}); err != nil {
			return err
		}
		if diff.Empty() {
			return nil
		}
		if priv = diff.Private.(*Private); priv.Op == opUnknown {
			return errors.New("PostgreSQL is not running (no socket in " + psql.SocketDir + "); install and start it first, in a resource this one depends on")
		}
	}
	sql, vars, err := d.sql(priv.Op)
	if err != nil {
		return err
	}
	var redact []string
	for _, v := range vars {
		if d.sensitive[v.field] {
			redact = append(redact, v.Value)
		}
	}
	if err := psql.Exec(ctx, h, sql, varsOf(vars), redact...); err != nil {
		return fmt.Errorf("%s database: %w", priv.Op, err)
	}
	return nil
}

// fieldVar is a psql variable and the field it comes from.
type fieldVar struct {
	psql.Var
	field string
}

func varsOf(fv []fieldVar) []psql.Var {
	out := make([]psql.Var, len(fv))
	for i, v := range fv {
		out[i] = v.Var
	}
	return out
}

// sql is the statement for an operation and the psql variables it uses:
// n (name), o (owner), t (template), e (encoding), c, ct (locales).
func (d *Database) sql(op string) (string, []fieldVar, error) {
	vars := []fieldVar{{psql.Var{Name: "n", Value: d.name}, "name"}}
	add := func(name, value, field string) {
		vars = append(vars, fieldVar{psql.Var{Name: name, Value: value}, field})
	}
	switch op {
	case opDrop:
		return "DROP DATABASE :\"n\";\n", vars, nil
	case opOwner:
		add("o", d.owner, "owner")
		return "ALTER DATABASE :\"n\" OWNER TO :\"o\";\n", vars, nil
	case opCreate:
	default:
		return "", nil, fmt.Errorf("the plan has an unknown operation %q", op)
	}
	// CREATE DATABASE cannot run in a transaction: psql sends each
	// statement on its own.
	var b strings.Builder
	b.WriteString("CREATE DATABASE :\"n\" WITH TEMPLATE = :\"t\" ENCODING = :'e'")
	add("t", d.template, "template")
	add("e", d.encoding, "encoding")
	if d.collate != "" {
		b.WriteString(" LC_COLLATE = :'c'")
		add("c", d.collate, "lc_collate")
	}
	if d.ctype != "" {
		b.WriteString(" LC_CTYPE = :'ct'")
		add("ct", d.ctype, "lc_ctype")
	}
	if d.owner != "" {
		b.WriteString(" OWNER = :\"o\"")
		add("o", d.owner, "owner")
	}
	b.WriteString(";\n")
	return b.String(), vars, nil
}
