package postgresrole

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/modules/internal/psql"
)

// quiet keeps the statements of a session that sets a password out of
// the server's log, whatever log_statement the cluster has (superusers may
// change these per session).
const quiet = `SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = panic;
`

// Apply creates, alters or drops the role as the plan says.
func (r *Role) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return errors.New("the plan carries no postgres_role changes")
	}
	if priv.Op == opUnknown {
		// Planned before PostgreSQL ran: read the role now and do what
		// that plan says.
		res, err := h.Run(ctx, r.Probe(), nil)
		if err != nil {
			return err
		}
		if d, err = r.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode}); err != nil {
			return err
		}
		if d.Empty() {
			return nil
		}
		if priv = d.Private.(*Private); priv.Op == opUnknown {
			return errors.New("PostgreSQL is not running (no socket in " + psql.SocketDir + "); install and start it first, in a resource this one depends on")
		}
	}
	sql, secret, err := r.sql(priv)
	if err != nil {
		return err
	}
	redact := []string{secret}
	if r.sensitive["name"] {
		redact = append(redact, r.name)
	}
	if err := psql.Exec(ctx, h, sql, []psql.Var{{Name: "n", Value: r.name}}, redact...); err != nil {
		return fmt.Errorf("%s role: %w", priv.Op, err)
	}
	return nil
}

// sql is the statement for the plan's operation, and the verifier it
// holds (to redact from messages), if any.
func (r *Role) sql(priv *Private) (sql, verifier string, err error) {
	var b strings.Builder
	switch priv.Op {
	case opDrop:
		return "DROP ROLE :\"n\";\n", "", nil
	case opCreate:
		b.WriteString("CREATE ROLE :\"n\" WITH")
	case opAlter:
		b.WriteString("ALTER ROLE :\"n\" WITH")
	default:
		return "", "", fmt.Errorf("the plan has an unknown operation %q", priv.Op)
	}
	for _, o := range priv.Options {
		b.WriteString(" " + o)
	}
	if priv.Password {
		if r.password == "" {
			return "", "", errors.New("the plan sets a password but the resource has none")
		}
		if verifier, err = newVerifier(r.password); err != nil {
			return "", "", err
		}
		if !verifierSyntax.MatchString(verifier) {
			return "", "", errors.New("computed a malformed SCRAM verifier") // cannot happen: base64 and digits
		}
		b.WriteString(" PASSWORD '" + verifier + "'")
	}
	b.WriteString(";\n")
	if verifier != "" {
		return quiet + b.String(), verifier, nil
	}
	return b.String(), "", nil
}
