package cron

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// config builds a Config as the engine does: every schema field present,
// defaults applied, null when unset; the block label is "backup".
func config(t *testing.T, vals map[string]cty.Value) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("cron")
	if !ok {
		t.Fatal("cron type not registered")
	}
	cfg := resource.Config{Name: "backup", Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
	for _, f := range typ.Fields {
		v, ok := vals[f.Name]
		switch {
		case ok:
		case f.Default != cty.NilVal:
			v = f.Default
		default:
			v = cty.NullVal(f.Type)
		}
		cfg.Values[f.Name] = v
	}
	for k := range vals {
		if _, ok := cfg.Values[k]; !ok {
			t.Fatalf("no field %q in the schema", k)
		}
	}
	return cfg
}

func newJob(t *testing.T, vals map[string]cty.Value) *Job {
	t.Helper()
	r, err := New(config(t, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Job)
}

func str(s string) cty.Value { return cty.StringVal(s) }

func env(kv ...string) cty.Value {
	m := map[string]cty.Value{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = str(kv[i+1])
	}
	return cty.MapVal(m)
}

func TestNewValidation(t *testing.T) {
	ok := func(extra map[string]cty.Value) map[string]cty.Value {
		v := map[string]cty.Value{"schedule": str("17 3 * * *"), "command": str("/bin/true")}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"dotted name", ok(map[string]cty.Value{"name": str("backup.daily")}), "name", "cron ignores"},
		{"slash name", ok(map[string]cty.Value{"name": str("../x")}), "name", "cron ignores"},
		{"no schedule", map[string]cty.Value{"command": str("x")}, "schedule", "required"},
		{"no command", map[string]cty.Value{"schedule": str("@daily")}, "command", "required"},
		{"four fields", ok(map[string]cty.Value{"schedule": str("1 2 3 4")}), "schedule", "has 4 fields"},
		{"six fields", ok(map[string]cty.Value{"schedule": str("0 1 2 3 4 5")}), "schedule", "has 6 fields"},
		{"bad shortcut", ok(map[string]cty.Value{"schedule": str("@often")}), "schedule", "not a cron shortcut"},
		{"minute 60", ok(map[string]cty.Value{"schedule": str("60 * * * *")}), "schedule", "minute field \"60\": \"60\" must be a number from 0 to 59"},
		{"hour 24", ok(map[string]cty.Value{"schedule": str("0 24 * * *")}), "schedule", "hour field"},
		{"day 0", ok(map[string]cty.Value{"schedule": str("0 0 0 * *")}), "schedule", "day of month field"},
		{"month 13", ok(map[string]cty.Value{"schedule": str("0 0 1 13 *")}), "schedule", "month field"},
		{"dow 8", ok(map[string]cty.Value{"schedule": str("0 0 * * 8")}), "schedule", "day of week field"},
		{"backwards", ok(map[string]cty.Value{"schedule": str("0 5-1 * * *")}), "schedule", "backwards"},
		{"step 0", ok(map[string]cty.Value{"schedule": str("*/0 * * * *")}), "schedule", "step"},
		{"step without range", ok(map[string]cty.Value{"schedule": str("5/10 * * * *")}), "schedule", "needs a range"},
		{"names in range", ok(map[string]cty.Value{"schedule": str("0 0 * * mon-fri")}), "schedule", "must stand alone"},
		{"empty item", ok(map[string]cty.Value{"schedule": str("1,,2 * * * *")}), "schedule", "minute field"},
		{"junk", ok(map[string]cty.Value{"schedule": str("a * * * *")}), "schedule", "minute field"},
		{"user space", ok(map[string]cty.Value{"user": str("a b")}), "user", "not a user name"},
		{"user dash", ok(map[string]cty.Value{"user": str("-x")}), "user", "not a user name"},
		{"percent", ok(map[string]cty.Value{"command": str("date +%F >/tmp/x")}), "command", `write \%`},
		{"newline", ok(map[string]cty.Value{"command": str("a\nb")}), "command", "one line"},
		{"blank command", ok(map[string]cty.Value{"command": str("  ")}), "command", "empty"},
		{"env name", ok(map[string]cty.Value{"environment": env("1X", "a")}), "environment", "not a variable name"},
		{"env dash", ok(map[string]cty.Value{"environment": env("A-B", "a")}), "environment", "not a variable name"},
		{"env newline", ok(map[string]cty.Value{"environment": env("A", "a\nb")}), "environment", "one line"},
		{"env quotes", ok(map[string]cty.Value{"environment": env("A", ` "it's" `)}), "environment", "both kinds"},
		{"absent with command", map[string]cty.Value{"state": str("absent"), "command": str("x")}, "command", "no effect"},
		{"bad state", ok(map[string]cty.Value{"state": str("off")}), "state", `"present" or "absent"`},
		{"unknown", ok(map[string]cty.Value{"command": cty.UnknownVal(cty.String)}), "command", "not known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a field error, got %v", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %q, want field %s with %q", err, tt.field, tt.want)
			}
		})
	}
}

func TestSchedulesValid(t *testing.T) {
	for _, s := range []string{"* * * * *", "*/15 * * * *", "0 0-23/2 * * *", "5,35 9-17 1,15 jan mon",
		"0 0 * * 7", "0 0 * * 0-6", "59 23 31 12 SUN", "@reboot", "@daily", "@annually", " 1  2 3 4 5 "} {
		if _, err := checkSchedule(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if got, _ := checkSchedule(" 1  2 3\t4 5 "); got != "1 2 3 4 5" {
		t.Errorf("normalized to %q", got)
	}
}

func TestContent(t *testing.T) {
	j := newJob(t, map[string]cty.Value{
		"schedule":    str("*/5  * * * *"),
		"user":        str("www-data"),
		"command":     str(`cd /srv && ./run --date "$(date +\%F)" 2>&1 | logger`),
		"environment": env("PATH", "/usr/bin:/bin", "MAILTO", "", "GREETING", " hi ", "Q", `"x"`),
	})
	want := `# Managed by pinery (cron "backup"); changes here are overwritten.
GREETING=" hi "
MAILTO=""
PATH=/usr/bin:/bin
Q='"x"'
*/5 * * * * www-data cd /srv && ./run --date "$(date +\%F)" 2>&1 | logger
`
	if string(j.content) != want {
		t.Errorf("content:\n%s\nwant:\n%s", j.content, want)
	}
	if j.path != "/etc/cron.d/pinery-backup" {
		t.Errorf("path %s", j.path)
	}
	if j := newJob(t, map[string]cty.Value{"name": str("job_2"), "state": str("absent")}); j.path != "/etc/cron.d/pinery-job_2" {
		t.Errorf("path %s", j.path)
	}
}

func TestPlanTable(t *testing.T) {
	vals := map[string]cty.Value{"schedule": str("@daily"), "command": str("/bin/true")}
	cur := string(newJob(t, vals).content)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) + "\n" }
	file := func(mode, uid, s string) string {
		return "type=file\nstat=" + mode + " " + uid + " 0 " + itoa(len(s)) + "\nbase64=\n" + b64(s)
	}
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  resource.Action
		fields  string
		diff    string
		wantErr string
	}{
		{name: "new", vals: vals, out: "type=none\n", action: resource.Create, fields: "content", diff: "+@daily root /bin/true"},
		{name: "same", vals: vals, out: file("644", "0", cur), action: resource.NoOp},
		{name: "changed", vals: vals, out: file("644", "0", strings.Replace(cur, "@daily", "@hourly", 1)), action: resource.Update, fields: "content", diff: "-@hourly root /bin/true\n+@daily root /bin/true"},
		{name: "mode owner", vals: vals, out: file("664", "1000", cur), action: resource.Update, fields: "mode,owner"},
		{name: "big", vals: vals, out: "type=file\nstat=644 0 0 99999\nbase64=\n" + b64("x"), action: resource.Update, fields: "content"},
		{name: "link", vals: vals, out: "link=1\n" + file("644", "0", cur), action: resource.Update, fields: "type"},
		{name: "directory", vals: vals, out: "type=directory\n", wantErr: "is a directory"},
		{name: "absent gone", vals: map[string]cty.Value{"state": str("absent")}, out: "type=none\n", action: resource.NoOp},
		{name: "absent removes", vals: map[string]cty.Value{"state": str("absent")}, out: "type=file\n", action: resource.Delete, fields: "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newJob(t, tt.vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var fields []string
			for _, c := range d.Changes {
				fields = append(fields, c.Field)
			}
			if d.Action != tt.action || strings.Join(fields, ",") != tt.fields {
				t.Fatalf("got %v %v, want %v %s", d.Action, fields, tt.action, tt.fields)
			}
			if !strings.Contains(d.TextDiff, tt.diff) || (tt.diff == "" && d.TextDiff != "") {
				t.Errorf("diff %q, want %q", d.TextDiff, tt.diff)
			}
		})
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// On a fleet host: create, change the schedule, remove; the file's content,
// mode and owner checked over the connection, a second plan empty each time.
func TestFleetCron(t *testing.T) {
	h := fleettest.Dial(t, "h2")
	var tok [5]byte
	_, _ = rand.Read(tok[:])
	name := "test_" + hex.EncodeToString(tok[:])
	path := "/etc/cron.d/pinery-" + name
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -f -- "+path, nil) })
	run := func(cmd string) string {
		t.Helper()
		res, err := h.Run(context.Background(), cmd, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Err(cmd); err != nil {
			t.Fatal(err)
		}
		return string(res.Stdout)
	}
	converge := func(j *Job) *resource.Diff {
		t.Helper()
		plan := func() *resource.Diff {
			t.Helper()
			res, err := h.Run(context.Background(), "LC_ALL=C; export LC_ALL\n(\n"+j.Probe()+"\n) </dev/null", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Stderr) > 0 {
				t.Errorf("probe wrote on stderr: %s", res.Stderr)
			}
			d, err := j.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		d := plan()
		if err := j.Apply(context.Background(), h, d); err != nil {
			t.Fatalf("apply: %v", err)
		}
		if again := plan(); !again.Empty() {
			t.Fatalf("not converged after apply: %+v", again)
		}
		return d
	}
	job := func(schedule string) *Job {
		return newJob(t, map[string]cty.Value{"name": str(name), "schedule": str(schedule), "user": str("nobody"),
			"command": str("echo 'it works' >/dev/null"), "environment": env("MAILTO", "")})
	}

	if d := converge(job("17 3 * * *")); d.Action != resource.Create {
		t.Fatalf("first plan %+v", d)
	}
	if got := run("stat -c '%a %U %G' -- " + path); got != "644 root root\n" {
		t.Errorf("stat %q", got)
	}
	if got, want := run("cat -- "+path), string(job("17 3 * * *").content); got != want {
		t.Errorf("content %q, want %q", got, want)
	}
	if !strings.Contains(run("cat -- "+path), "\n17 3 * * * nobody echo 'it works' >/dev/null\n") {
		t.Errorf("job line missing")
	}

	d := converge(job("*/10 * * * 1-5"))
	if d.Action != resource.Update || !strings.Contains(d.TextDiff, "-17 3 * * * nobody") || !strings.Contains(d.TextDiff, "+*/10 * * * 1-5 nobody") {
		t.Errorf("change plan %+v\n%s", d, d.TextDiff)
	}
	if !strings.Contains(run("cat -- "+path), "\n*/10 * * * 1-5 nobody ") {
		t.Errorf("schedule not changed")
	}
	if got := run("ls -a /etc/cron.d | grep -c '^\\.pinery-' || :"); got != "0\n" {
		t.Errorf("temporary files left: %s", got)
	}

	run("chmod 0664 -- " + path)
	if d := converge(job("*/10 * * * 1-5")); d.Changes[0].Field != "mode" {
		t.Errorf("mode plan %+v", d)
	}

	if d := converge(newJob(t, map[string]cty.Value{"name": str(name), "state": str("absent")})); d.Action != resource.Delete {
		t.Errorf("remove plan %+v", d)
	}
	if got := run("[ -e " + path + " ] && echo present || echo gone"); got != "gone\n" {
		t.Errorf("file %s", got)
	}
}
