// Package exec is the "exec" resource type: a command made idempotent by
// guards (creates, unless, onlyif), or run only when something it watches
// changed.
package exec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const doc = `Runs a shell command on the host (` + "`sh -c`" + `, as root), made idempotent by
guards, like Salt's ` + "`cmd.run`" + ` and Ansible's ` + "`command`" + `:

- ` + "`creates`" + `: skip when this path exists;
- ` + "`unless`" + `: skip when this command exits 0;
- ` + "`onlyif`" + `: run only when this command exits 0.

**Planning.** The probe evaluates the guards on the host, in order, in ` + "`cwd`" + `,
with ` + "`environment`" + ` and ` + "`timeout`" + `, stopping at the first that says skip. The
plan shows ` + "`!`" + ` with the command when it would run, nothing otherwise. A command
without guards runs on every apply. **Guards are run while planning, so they
must be read-only** (tests such as ` + "`test -f`" + `, ` + "`grep -q`" + `, ` + "`systemctl is-active`" + `,
` + "`psql -tAc 'select ...'`" + `): pinery runs them on every plan.

**Applying.** The guards are checked again just before the command runs (an
earlier resource of the same run may have created the file), and the command
runs only if they still say so. A failure reports the exit status and the last
lines of stderr and stdout; values of sensitive fields are blanked out of them.
With ` + "`timeout`" + `, coreutils' ` + "`timeout`" + ` on the host kills the command and every
process it started once the time is up (TERM, then KILL 10 s later).
` + "`environment`" + ` is exported by the shell that runs the command (no SSH ` + "`AcceptEnv`" + `
needed); its values never appear in a process's arguments, where any user of the
host could read them with ` + "`ps`" + `.

**Refresh.** With ` + "`refresh_only = true`" + ` the command runs only when a resource it
` + "`watch`" + `es changed, and plans show nothing otherwise. A refresh honours the guards
too (as Puppet's ` + "`refreshonly`" + `, Salt's ` + "`watch`" + ` and Ansible's handlers do): a guard
says when the command is unnecessary, whatever triggered it; to rebuild on every
change of a source, don't guard with ` + "`creates`" + `. A command that already ran in
this apply is not run a second time by a refresh.`

const example = `exec "initdb" {
  command = "pg_createcluster 15 main --start"
  creates = "/etc/postgresql/15/main/postgresql.conf"
}

exec "synapse_db" {
  command = "runuser -u postgres -- createdb --encoding=UTF8 --locale=C --template=template0 --owner=synapse synapse"
  unless  = "runuser -u postgres -- psql -tAc \"select 1 from pg_database where datname = 'synapse'\" | grep -q 1"
  environment = { PGCONNECT_TIMEOUT = "5" }
  timeout     = 60
}

exec "nginx_reload" {
  command      = "nginx -t && nginx -s reload"
  refresh_only = true
  watch        = [file.nginx_site]
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "exec",
		Summary: "A shell command, run when its guards (creates, unless, onlyif) say so or when a watched resource changed.",
		Doc:     doc,
		Example: example,
		Refresh: "run",
		Fields: []resource.Field{
			{Name: "command", Type: cty.String, Required: true,
				Doc: "The command, run with `sh -c` as root, stdin empty."},
			{Name: "creates", Type: cty.String,
				Doc: "A path; the command is skipped when it exists. Relative paths are relative to `cwd`."},
			{Name: "unless", Type: cty.String,
				Doc: "A read-only command; the command is skipped when it exits 0. Run while planning."},
			{Name: "onlyif", Type: cty.String,
				Doc: "A read-only command; the command runs only when it exits 0. Run while planning."},
			{Name: "cwd", Type: cty.String,
				Doc: "Absolute directory to run the command and its guards in. Default: the login directory of the connection's user."},
			{Name: "environment", Type: cty.Map(cty.String),
				Doc: "Environment variables for the command and its guards, exported by the shell (never on a command line)."},
			{Name: "refresh_only", Type: cty.Bool, Default: cty.False,
				Doc: "Run only when a watched resource changed (see Refresh)."},
			{Name: "timeout", Type: cty.Number, Default: resource.Num(0),
				Doc: "Seconds after which the command (or a guard) is killed on the host, with all it started; 0: no limit."},
		},
		New: New,
	})
}

// Exec is one command on one host.
type Exec struct {
	command, creates, unless, onlyif, cwd string
	env                                   [][2]string // sorted by name
	refreshOnly                           bool
	timeout                               int64
	sensitiveCommand, sensitiveCwd        bool
	secrets                               []string // sensitive values, blanked out of errors

	ran atomic.Bool // the command ran in this apply
}

var (
	_ resource.Resource  = (*Exec)(nil)
	_ resource.Refresher = (*Exec)(nil)
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New validates an exec block.
func New(cfg resource.Config) (resource.Resource, error) {
	e := &Exec{
		command:          cfg.String("command"),
		creates:          cfg.String("creates"),
		unless:           cfg.String("unless"),
		onlyif:           cfg.String("onlyif"),
		cwd:              cfg.String("cwd"),
		refreshOnly:      cfg.Bool("refresh_only"),
		timeout:          cfg.Int("timeout"),
		sensitiveCommand: cfg.IsSensitive("command"),
		sensitiveCwd:     cfg.IsSensitive("cwd"),
	}
	if strings.TrimSpace(e.command) == "" {
		return nil, cfg.Errorf("command", "must not be empty")
	}
	for _, f := range []struct{ name, v string }{{"command", e.command}, {"creates", e.creates}, {"unless", e.unless}, {"onlyif", e.onlyif}, {"cwd", e.cwd}} {
		if strings.ContainsRune(f.v, 0) {
			return nil, cfg.Errorf(f.name, "contains a NUL byte, which no shell can pass")
		}
		if cfg.IsSensitive(f.name) && f.v != "" {
			e.secrets = append(e.secrets, f.v)
		}
	}
	if cfg.IsSet("unless") && strings.TrimSpace(e.unless) == "" {
		return nil, cfg.Errorf("unless", "must not be empty: remove it, or give a command")
	}
	if cfg.IsSet("onlyif") && strings.TrimSpace(e.onlyif) == "" {
		return nil, cfg.Errorf("onlyif", "must not be empty: remove it, or give a command")
	}
	if e.cwd != "" && !path.IsAbs(e.cwd) {
		return nil, cfg.Errorf("cwd", "%q is not an absolute path", e.cwd)
	}
	if cfg.IsSet("creates") {
		switch {
		case e.creates == "":
			return nil, cfg.Errorf("creates", "must not be empty: remove it, or give a path")
		case !path.IsAbs(e.creates) && e.cwd == "":
			return nil, cfg.Errorf("creates", "%q is relative: make it absolute, or set cwd", e.creates)
		}
	}
	if e.timeout < 0 {
		return nil, cfg.Errorf("timeout", "must be 0 (no limit) or more seconds, not %d", e.timeout)
	}
	if v := cfg.Values["environment"]; v != cty.NilVal && !v.IsNull() {
		for k, val := range v.AsValueMap() {
			if !envNameRE.MatchString(k) {
				return nil, cfg.Errorf("environment", "%q is not an environment variable name: use letters, digits and '_', not starting with a digit", k)
			}
			s := ""
			if !val.IsNull() {
				s = val.AsString()
			}
			if strings.ContainsRune(s, 0) {
				return nil, cfg.Errorf("environment", "the value of %s contains a NUL byte, which no environment can hold", k)
			}
			e.env = append(e.env, [2]string{k, s})
			if cfg.IsSensitive("environment") && s != "" {
				e.secrets = append(e.secrets, s)
			}
		}
		sort.Slice(e.env, func(i, j int) bool { return e.env[i][0] < e.env[j][0] })
	}
	return e, nil
}

// wrap runs one command line with the environment and the time limit.
//
// The environment is exported by the shell (a builtin), not given to env
// on a command line: a value never appears in a process's arguments, which
// every user of the host can read with ps. The scripts themselves reach
// the host on stdin, not as the SSH command.
func (e *Exec) wrap(cmd string) string {
	var b strings.Builder
	b.WriteString("(")
	for _, kv := range e.env {
		b.WriteString(" export " + kv[0] + "=" + shellescape.Quote(kv[1]) + ";")
	}
	b.WriteString(" exec ")
	if e.timeout > 0 {
		b.WriteString("timeout -k 10 " + strconv.FormatInt(e.timeout, 10) + " ")
	}
	b.WriteString("sh -c " + shellescape.Quote(cmd) + " </dev/null )")
	return b.String()
}

// guards sets $skip to the first guard that says skip ("cwd" when the
// directory is missing), or leaves it empty.
func (e *Exec) guards() string {
	var b strings.Builder
	b.WriteString("skip=\n")
	if e.cwd != "" {
		b.WriteString("cd -- " + shellescape.Quote(e.cwd) + " 2>/dev/null || skip=cwd\n")
	}
	if e.creates != "" {
		b.WriteString("[ -n \"$skip\" ] || ! [ -e " + shellescape.Quote(e.creates) + " ] || skip=creates\n")
	}
	if e.unless != "" {
		b.WriteString("[ -n \"$skip\" ] || ! " + e.wrap(e.unless) + " >/dev/null 2>&1 || skip=unless\n")
	}
	if e.onlyif != "" {
		b.WriteString("[ -n \"$skip\" ] || " + e.wrap(e.onlyif) + " >/dev/null 2>&1 || skip=onlyif\n")
	}
	return b.String()
}

// Probe evaluates the guards and prints skip=REASON (empty: would run).
// A refresh_only command never runs on its own, so there is nothing to ask.
func (e *Exec) Probe() string {
	if e.refreshOnly {
		return ":"
	}
	return e.guards() + "echo \"skip=$skip\""
}

// Plan shows the command when the guards say it would run.
func (e *Exec) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	if e.refreshOnly {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	line := strings.TrimRight(string(out.Stdout), "\n")
	skip, ok := strings.CutPrefix(line, "skip=")
	if !ok || strings.Contains(line, "\n") {
		return nil, fmt.Errorf("exec: unreadable probe output %q", truncate(line, 200))
	}
	cmd := resource.Change{Field: "command", New: e.command, Sensitive: e.sensitiveCommand}
	switch skip {
	case "":
		return &resource.Diff{Action: resource.Run, Changes: []resource.Change{cmd}}, nil
	case "cwd":
		return &resource.Diff{Action: resource.Run, Changes: []resource.Change{cmd,
			{Field: "cwd", New: e.cwd + " (missing now: the guards are checked at apply)", Sensitive: e.sensitiveCwd}}}, nil
	case "creates", "unless", "onlyif":
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	return nil, fmt.Errorf("exec: unreadable probe output %q", truncate(line, 200))
}

// Apply re-checks the guards and runs the command.
func (e *Exec) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	return e.run(ctx, h)
}

// Refresh runs the command after a watched resource changed, subject to
// the guards, unless it already ran in this apply.
func (e *Exec) Refresh(ctx context.Context, h resource.Runner) (string, error) {
	if e.ran.Load() {
		return "", nil
	}
	if err := e.run(ctx, h); err != nil {
		return "", err
	}
	if !e.ran.Load() {
		return "", nil // a guard said skip at apply time
	}
	return "ran", nil
}

func (e *Exec) run(ctx context.Context, h resource.Runner) error {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	mark := "::pinery-exec-" + hex.EncodeToString(nonce[:]) + "::"
	script := e.guards() +
		"case $skip in cwd) echo '" + mark + " cwd'; exit 1;; ?*) echo \"" + mark + " $skip\"; exit 0;; esac\n" +
		e.wrap(e.command) + "\n"
	res, err := h.Run(ctx, "exec sh -s", strings.NewReader(script))
	if err != nil {
		return fmt.Errorf("exec %s: %w", e.describe(), err)
	}
	out := string(res.Stdout)
	if strings.HasPrefix(out, mark+" ") {
		if strings.HasPrefix(out, mark+" cwd") {
			return fmt.Errorf("exec %s: cwd %s does not exist", e.describe(), e.redact(e.cwd))
		}
		return nil // a guard said skip at apply time
	}
	e.ran.Store(true)
	if res.ExitCode == 0 {
		return nil
	}
	var msg string
	if e.timeout > 0 && (res.ExitCode == 124 || res.ExitCode == 137) {
		msg = fmt.Sprintf("timed out after %d s and was killed", e.timeout)
	} else {
		msg = fmt.Sprintf("failed with exit status %d", res.ExitCode)
	}
	if t := tail(e.redact(string(res.Stderr)), 20); t != "" {
		msg += "\nstderr:\n" + t
	}
	if t := tail(e.redact(out), 10); t != "" {
		msg += "\nstdout:\n" + t
	}
	return fmt.Errorf("exec %s: %s", e.describe(), msg)
}

// describe names the command in errors: its first line, shortened.
func (e *Exec) describe() string {
	if e.sensitiveCommand {
		return "(sensitive command)"
	}
	first, _, more := strings.Cut(strings.TrimSpace(e.command), "\n")
	first = e.redact(first)
	if more || len(first) > 60 {
		return strconv.Quote(truncate(first, 60) + "…")
	}
	return strconv.Quote(first)
}

// redact blanks the values of sensitive fields out of s.
func (e *Exec) redact(s string) string {
	for _, v := range e.secrets {
		s = strings.ReplaceAll(s, v, "(sensitive)")
	}
	return s
}

// tail returns the last n lines of s, indented.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n ")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	for i, l := range lines {
		lines[i] = "  " + truncate(l, 500)
	}
	return strings.Join(lines, "\n")
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
