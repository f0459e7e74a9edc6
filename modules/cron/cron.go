// Package cron is the `cron` resource type: one job as a file of its own in
// /etc/cron.d, written atomically.
package cron

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/aymanbagabas/go-udiff"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const cronDir = "/etc/cron.d"

func init() {
	resource.Register(&resource.Type{
		Name:    "cron",
		Summary: "A cron job, as a file of its own in /etc/cron.d.",
		Doc: `Manages one cron job as the file ` + "`/etc/cron.d/pinery-NAME`" + `: its environment lines, then
one line with the schedule, the user and the command. cron notices a changed file by
itself; nothing is reloaded. The plan shows a unified diff of the file.

The file is written atomically (a temporary file, then a rename), mode 0644 and owned by
root, as cron requires of files in ` + "`/etc/cron.d`" + `. Other files there, and users' crontabs,
are left alone. The directory comes with the ` + "`cron`" + ` package: install it first (a
` + "`package`" + ` resource this one depends on); a missing directory fails the apply.

The schedule is checked when the state is loaded: five fields (minute, hour, day of
month, month, day of week) with ` + "`*`" + `, numbers, ranges ` + "`a-b`" + `, steps ` + "`/n`" + ` and lists,
or one of ` + "`@reboot`, `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`" + `. Names
(` + "`mon`, `jan`" + `) are accepted alone in their field, as cron(8) documents.

The command runs through ` + "`/bin/sh`" + ` as written. cron turns an unescaped ` + "`%`" + ` into a
newline (what follows becomes the command's input), which is rarely meant; the command
is refused with one, and ` + "`\\%`" + ` is a literal percent sign (` + "`date +\\%F`" + `).`,
		Example: `cron "backup" {
  schedule = "17 3 * * *"
  user     = "backup"
  command  = "/usr/local/bin/backup --quiet"
  environment = {
    MAILTO = "ops@example.org"
    PATH   = "/usr/local/bin:/usr/bin:/bin"
  }
}

cron "cleanup" {
  schedule = "@daily"
  command  = "find /var/tmp/render -mtime +7 -delete"
}`,
		Fields: []resource.Field{
			{Name: "name", Type: cty.String,
				Doc: "The job's name: the file is `/etc/cron.d/pinery-NAME`. Letters, digits, `_` and `-` only, since cron ignores other file names there. Unset: the block's label. Set it with `for_each` (`name = each.key`), whose instances share the label."},
			{Name: "schedule", Type: cty.String,
				Doc: "When the job runs: five fields, `\"*/15 * * * *\"`, `\"17 3 * * 1-5\"`, or `@reboot`, `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. Required when `state = \"present\"`."},
			{Name: "user", Type: cty.String, Default: cty.StringVal("root"),
				Doc: "The user the command runs as."},
			{Name: "command", Type: cty.String,
				Doc: "The command, one line, run by `/bin/sh`. Write `\\%` for a percent sign. Required when `state = \"present\"`."},
			{Name: "environment", Type: cty.Map(cty.String),
				Doc: "Variables set for the command, written as `NAME=value` lines before it: `{ MAILTO = \"ops@example.org\" }`. Values are taken literally, not expanded."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`. Absent removes the file."},
		},
		New: New,
	})
}

// Job is one configured cron job.
type Job struct {
	name    string
	path    string
	absent  bool
	content []byte
	sum     string
}

var _ resource.Resource = (*Job)(nil)

var (
	// cron ignores files in cron.d whose names are not of run-parts' kind.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// New validates a cron block and renders its file.
func New(cfg resource.Config) (resource.Resource, error) {
	j := &Job{name: cfg.Name}
	if cfg.IsSet("name") {
		j.name = cfg.String("name")
	}
	if !nameRE.MatchString(j.name) || len(j.name) > 200 {
		return nil, cfg.Errorf("name", "%q cannot name a file in /etc/cron.d, where cron ignores names with anything but letters, digits, '_' and '-'; set name (or the block's label) to one like \"nightly_backup\"", j.name)
	}
	j.path = cronDir + "/pinery-" + j.name
	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		j.absent = true
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if j.absent {
		for _, f := range []string{"schedule", "command", "environment"} {
			if cfg.IsSet(f) {
				return nil, cfg.Errorf(f, "has no effect with state = \"absent\"; remove it")
			}
		}
		return j, nil
	}
	for _, f := range []string{"schedule", "command", "user", "environment"} {
		if v := cfg.Values[f]; v != cty.NilVal && !v.IsWhollyKnown() {
			return nil, cfg.Errorf(f, "is not known until apply; a cron job must be known when planning")
		}
	}
	if !cfg.IsSet("schedule") {
		return nil, cfg.Errorf("schedule", "is required with state = \"present\"; set five fields like \"17 3 * * *\" or a shortcut like \"@daily\"")
	}
	sched, err := checkSchedule(cfg.String("schedule"))
	if err != nil {
		return nil, cfg.Errorf("schedule", "%v", err)
	}
	user := cfg.String("user")
	if !userRE.MatchString(user) || len(user) > 32 {
		return nil, cfg.Errorf("user", "%q is not a user name: use letters, digits, '_', '.' and '-', like \"root\" or \"backup\"", user)
	}
	if !cfg.IsSet("command") {
		return nil, cfg.Errorf("command", "is required with state = \"present\"; set the shell command to run")
	}
	cmd := cfg.String("command")
	if err := checkCommand(cmd); err != nil {
		return nil, cfg.Errorf("command", "%v", err)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by pinery (cron %q); changes here are overwritten.\n", j.name)
	if cfg.IsSet("environment") {
		env := map[string]string{}
		for it := cfg.Values["environment"].ElementIterator(); it.Next(); {
			k, v := it.Element()
			if v.IsNull() {
				continue
			}
			env[k.AsString()] = v.AsString()
		}
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			line, err := envLine(k, env[k])
			if err != nil {
				return nil, cfg.Errorf("environment", "%v", err)
			}
			b.WriteString(line + "\n")
		}
	}
	fmt.Fprintf(&b, "%s %s %s\n", sched, user, cmd)
	j.content = []byte(b.String())
	s := sha256.Sum256(j.content)
	j.sum = hex.EncodeToString(s[:])
	return j, nil
}

func checkCommand(cmd string) error {
	switch {
	case strings.TrimSpace(cmd) == "":
		return errors.New("must not be empty; set the shell command to run")
	case strings.ContainsAny(cmd, "\n\r\x00"):
		return errors.New("must be one line: cron reads one job per line; put longer scripts in a file and run that")
	}
	for i := 0; i < len(cmd); i++ {
		switch cmd[i] {
		case '\\':
			i++ // whatever follows is escaped
		case '%':
			return fmt.Errorf("has an unescaped %% at byte %d, which cron turns into a newline and the rest into the command's input; write \\%% for a percent sign (as in date +\\%%F)", i+1)
		}
	}
	return nil
}

// envLine is NAME=value as cron reads it: cron trims blanks around the
// value and strips one pair of matching quotes, so such values are quoted.
func envLine(k, v string) (string, error) {
	if !envRE.MatchString(k) {
		return "", fmt.Errorf("%q is not a variable name: use letters, digits and '_', not starting with a digit, like MAILTO", k)
	}
	if strings.ContainsAny(v, "\n\r\x00") {
		return "", fmt.Errorf("the value of %s must be one line", k)
	}
	needQuotes := v == "" || strings.TrimSpace(v) != v || strings.ContainsAny(v[:1], `'"`) || strings.ContainsAny(v[len(v)-1:], `'"`)
	switch {
	case !needQuotes:
		return k + "=" + v, nil
	case !strings.Contains(v, `"`):
		return k + `="` + v + `"`, nil
	case !strings.Contains(v, "'"):
		return k + "='" + v + "'", nil
	}
	return "", fmt.Errorf("the value of %s has both kinds of quotes and blanks or quotes at an end, which cron cannot read back exactly; change the value", k)
}

var shortcuts = map[string]bool{"@reboot": true, "@yearly": true, "@annually": true, "@monthly": true,
	"@weekly": true, "@daily": true, "@midnight": true, "@hourly": true}

type cronField struct {
	name     string
	min, max int
	names    []string // index + min is the value
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// checkSchedule checks a schedule's syntax and returns it with single
// spaces between fields.
func checkSchedule(s string) (string, error) {
	fs := strings.Fields(s)
	if len(fs) == 1 && strings.HasPrefix(fs[0], "@") {
		if !shortcuts[fs[0]] {
			return "", fmt.Errorf("%q is not a cron shortcut: use @reboot, @hourly, @daily, @weekly, @monthly or @yearly", fs[0])
		}
		return fs[0], nil
	}
	if len(fs) != 5 {
		return "", fmt.Errorf("%q has %d fields; write five (minute hour day-of-month month day-of-week), like \"17 3 * * *\", or a shortcut like \"@daily\"", s, len(fs))
	}
	for i, f := range fs {
		if err := cronFields[i].check(f); err != nil {
			return "", fmt.Errorf("%s field %q: %v", cronFields[i].name, f, err)
		}
	}
	return strings.Join(fs, " "), nil
}

func (cf cronField) check(f string) error {
	for _, n := range cf.names {
		if strings.EqualFold(f, n) {
			return nil
		}
	}
	for _, item := range strings.Split(f, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 || n > cf.max {
				return fmt.Errorf("step %q must be a number from 1 to %d", step, cf.max)
			}
		}
		if rng == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := cf.number(lo)
		if err != nil {
			return err
		}
		if !isRange {
			if hasStep {
				return fmt.Errorf("a step needs a range or '*' before it, like \"*/%s\" or \"%s-%d/%s\"", step, lo, cf.max, step)
			}
			continue
		}
		b, err := cf.number(hi)
		if err != nil {
			return err
		}
		if a > b {
			return fmt.Errorf("range %q goes backwards; write it from low to high", rng)
		}
	}
	return nil
}

func (cf cronField) number(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || s[0] == '+' || s[0] == '-' || n < cf.min || n > cf.max {
		how := ""
		if cf.names != nil {
			how = " (a name like " + strconv.Quote(cf.names[1]) + " must stand alone in the field)"
		}
		return 0, fmt.Errorf("%q must be a number from %d to %d, '*', a range a-b or a list a,b%s", s, cf.min, cf.max, how)
	}
	return n, nil
}

// Probe prints, one key=value per line:
//
//	link=1                  the path is a symbolic link
//	type=none|directory|other|file
//	stat=MODE UID GID SIZE  for a file wanted present
//	base64=                 the rest of the output is its content (cron files are small)
func (j *Job) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shellescape.Quote(j.path))
	b.WriteString(`if [ -L "$p" ]; then echo link=1; fi
if [ -d "$p" ]; then echo type=directory; exit 0; fi
if [ ! -e "$p" ]; then echo type=none; exit 0; fi
if [ ! -f "$p" ]; then echo type=other; exit 0; fi
echo type=file
`)
	if !j.absent {
		b.WriteString(`s=$(stat -L -c '%a %u %g %s' -- "$p" 2>/dev/null) || { echo error=stat; exit 1; }
echo "stat=$s"
echo base64=
head -c 65536 <"$p" | base64 || exit 1
`)
	}
	return b.String()
}

type probe struct {
	link     bool
	typ      string
	mode     string
	uid, gid string
	size     int64
	content  []byte
	fetched  bool
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		if bytes.Contains(out.Stdout, []byte("error=stat")) {
			return nil, errors.New("cannot read its metadata on the target (stat failed)")
		}
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{}
	rest := out.Stdout
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		k, v, ok := strings.Cut(string(line), "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "link":
			p.link = v == "1"
		case "type":
			p.typ = v
		case "stat":
			fs := strings.Fields(v)
			if len(fs) != 4 {
				return nil, fmt.Errorf("malformed metadata %q in probe output", v)
			}
			if _, err := fmt.Sscan(fs[3], &p.size); err != nil || p.size < 0 {
				return nil, fmt.Errorf("malformed size %q in probe output", fs[3])
			}
			p.mode, p.uid, p.gid = fs[0], fs[1], fs[2]
		case "base64":
			c, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(rest, []byte("\n"), nil)))
			if err != nil {
				return nil, fmt.Errorf("malformed content in probe output: %v", err)
			}
			p.content, p.fetched, rest = c, true, nil
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	switch p.typ {
	case "none", "directory", "other", "file":
	default:
		return nil, fmt.Errorf("malformed probe output: file type %q", p.typ)
	}
	return p, nil
}

// Private is what Apply needs from the plan.
type Private struct {
	Write  bool `json:"write,omitempty"`
	Delete bool `json:"delete,omitempty"`
}

// Plan compares the probed file with the job's.
func (j *Job) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.path, err)
	}
	switch {
	case p.typ == "directory":
		return nil, fmt.Errorf("%s is a directory, not a file; remove it or rename the cron block", j.path)
	case p.typ == "other" && !p.link:
		return nil, fmt.Errorf("%s exists but is not a regular file; remove it first", j.path)
	}
	if j.absent {
		if p.typ == "none" && !p.link {
			return &resource.Diff{Action: resource.NoOp}, nil
		}
		return &resource.Diff{
			Action:  resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: "present", New: "absent"}},
			Private: &Private{Delete: true},
		}, nil
	}
	d := &resource.Diff{Action: resource.Update, Private: &Private{Write: true}}
	if p.typ != "file" {
		if p.link {
			d.Changes = append(d.Changes, resource.Change{Field: "type", Old: "symlink", New: "file"})
		} else {
			d.Action = resource.Create
		}
		d.Changes = append(d.Changes, resource.Change{Field: "content", New: describe(j.content)})
		d.TextDiff = udiff.Unified("/dev/null", j.path, "", string(j.content))
		return d, nil
	}
	if p.link {
		d.Changes = append(d.Changes, resource.Change{Field: "type", Old: "symlink", New: "file"})
	}
	if !p.fetched || p.mode == "" {
		return nil, fmt.Errorf("%s: malformed probe output: no metadata or content", j.path)
	}
	if p.size != int64(len(p.content)) || !bytes.Equal(p.content, j.content) {
		old := describe(p.content)
		if p.size != int64(len(p.content)) {
			old = fmt.Sprintf("%d bytes", p.size)
		} else {
			d.TextDiff = udiff.Unified(j.path, j.path, string(p.content), string(j.content))
		}
		d.Changes = append(d.Changes, resource.Change{Field: "content", Old: old, New: describe(j.content)})
	}
	if p.mode != "644" {
		d.Changes = append(d.Changes, resource.Change{Field: "mode", Old: fmt.Sprintf("%04s", p.mode), New: "0644"})
	}
	if p.uid != "0" || p.gid != "0" {
		d.Changes = append(d.Changes, resource.Change{Field: "owner", Old: p.uid + ":" + p.gid, New: "0:0"})
	}
	if len(d.Changes) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	return d, nil
}

func describe(c []byte) string {
	n := strings.Count(string(c), "\n")
	if n == 1 {
		return fmt.Sprintf("%d bytes, 1 line", len(c))
	}
	return fmt.Sprintf("%d bytes, %d lines", len(c), n)
}

// Apply writes the file atomically (as modules/file does: a temporary
// file, checked, flushed, moded, renamed) or removes it.
func (j *Job) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("%s: the plan carries no cron changes (was it made by this version of pinery?)", j.path)
	}
	var script strings.Builder
	fmt.Fprintf(&script, "p=%s\nd=%s\n", shellescape.Quote(j.path), cronDir)
	if priv.Delete {
		script.WriteString("rm -f -- \"$p\"\n")
		res, err := h.Run(ctx, script.String(), nil)
		if err != nil {
			return err
		}
		return res.Err("removing " + j.path)
	}
	fmt.Fprintf(&script, `[ -d "$d" ] || exit 3
umask 077
t=$(mktemp -- "$d/.pinery-XXXXXXXXXX") || exit 1
trap 'rm -f -- "$t"' EXIT
trap 'exit 1' HUP INT TERM
cat >"$t" || exit 1
h=$(sha256sum <"$t") || exit 1
[ "${h%%%% *}" = %s ] || exit 4
chmod 0644 "$t" || exit 1
sync -- "$t" || exit 1
mv -f -T -- "$t" "$p" || exit 1
trap - EXIT
sync -- "$d" 2>/dev/null || :
`, j.sum)
	res, err := h.Run(ctx, script.String(), bytes.NewReader(j.content))
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case 3:
		return fmt.Errorf("cannot write %s: %s does not exist; install cron first (a package \"cron\" resource this one depends on)", j.path, cronDir)
	case 4:
		return fmt.Errorf("writing %s: the content arrived incomplete (checksum mismatch); the file was not changed", j.path)
	}
	return res.Err("writing " + j.path)
}
