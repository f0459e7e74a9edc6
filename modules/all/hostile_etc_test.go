package all_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// fstabEntry is one /etc/fstab line's first four fields, unescaped as
// getmntent(3) reads them.
type fstabEntry struct{ source, path, fstype, options string }

func fstab(h resource.Runner) ([]fstabEntry, error) {
	b, err := readFile(h, "/etc/fstab")
	if err != nil {
		return nil, err
	}
	var es []fstabEntry
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		es = append(es, fstabEntry{unoctal(f[0]), unoctal(f[1]), unoctal(f[2]), unoctal(f[3])})
	}
	return es, nil
}

var octal = regexp.MustCompile(`\\[0-7]{3}`)

func unoctal(s string) string {
	return octal.ReplaceAllStringFunc(s, func(e string) string {
		n, _ := strconv.ParseUint(e[1:], 8, 8)
		return string([]byte{byte(n)})
	})
}

// hasEntry checks that fstab has an entry for path with these fields.
func hasEntry(want fstabEntry) func(resource.Runner) error {
	return func(h resource.Runner) error {
		es, err := fstab(h)
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.path == want.path {
				if e != want {
					return fmt.Errorf("fstab has %q, want %q", e, want)
				}
				return nil
			}
		}
		return fmt.Errorf("fstab has no entry for %q", want.path)
	}
}

// hostileMount: values as the mount point, the source and the options of
// fstab entries (state = "present": nothing is mounted; fstab stays valid
// UTF-8, since it is edited as text), one after another
// since they share one file; then every entry is removed, which must leave
// fstab exactly as it was.
func hostileMount(t *testing.T, f *fixture) {
	orig, err := readFile(f.h, "/etc/fstab")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := readFile(f.h, "/etc/fstab"); err != nil || string(b) != string(orig) {
			t.Errorf("/etc/fstab not as it was (%v); restoring it", err)
			mustRun(t, f.h, "printf '%s' "+q(string(orig))+" >/etc/fstab")
		}
	})
	var points []string
	entry := func(field string, i int, v hostile) *hcase {
		e := fstabEntry{path: f.path("ms-" + field + "-" + strconv.Itoa(i)), source: "tmpfs", fstype: "tmpfs", options: "defaults"}
		switch field {
		case "path":
			e.path = f.path("m", v.s)
		case "source":
			e.source = v.s
		case "options":
			e.options = v.s
		}
		points = append(points, e.path)
		return &hcase{typ: "mount", field: field, check: hasEntry(e), vals: vals(
			"path", e.path, "source", e.source, "fstype", e.fstype, "options", e.options, "state", "present")}
	}
	t.Run("path", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			c := entry("path", i, v)
			if hasNUL(v.s) || hasBreak(v.s) || !utf8.ValidString(v.s) || !clean(f.path("m"), v.s) {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), true)
	})
	t.Run("source", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			c := entry("source", i, v)
			if v.s == "" || hasNUL(v.s) || hasBreak(v.s) || !utf8.ValidString(v.s) || strings.HasPrefix(v.s, "#") {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), true)
	})
	t.Run("options", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			c := entry("options", i, v)
			if v.s == "" || hasNUL(v.s) || !utf8.ValidString(v.s) || strings.ContainsAny(v.s, " \t\n\r\\") {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), true)
	})
	t.Run("absent", func(t *testing.T) {
		var cs []*hcase
		for _, p := range points {
			c := &hcase{typ: "mount", field: "path", value: hostile{"entry", p}, vals: vals("path", p, "state", "absent")}
			if hasNUL(p) || hasBreak(p) || !utf8.ValidString(p) || !clean("", p[1:]) {
				c.expect("", rejected)
			} else {
				c.expect("", converged)
			}
			cs = append(cs, c)
		}
		drive(t, f.h, cs, true)
		if b, err := readFile(f.h, "/etc/fstab"); err != nil || string(b) != string(orig) {
			t.Errorf("with every entry removed, /etc/fstab is not as it was (%v):\n%q\nwant\n%q", err, b, orig)
		}
	})
}

// hostileSysctl: values as a parameter's name and value, persisted only
// (apply = false: most keys are read-only in a container), then removed.
func hostileSysctl(t *testing.T, f *fixture) {
	t.Cleanup(func() { _, _ = run(f.h, "rm -f /etc/sysctl.d/60-pinery-kernel.pinery_hostile*") })
	persisted := func(name, value string) func(resource.Runner) error {
		conf := "/etc/sysctl.d/60-pinery-" + strings.ReplaceAll(name, "/", "_") + ".conf"
		return func(h resource.Runner) error {
			b, err := readFile(h, conf)
			if err != nil {
				return err
			}
			want := name + " = " + strings.Join(strings.Fields(value), " ")
			for _, l := range strings.Split(string(b), "\n") {
				if l == want {
					return nil
				}
			}
			return fmt.Errorf("%s holds %q, want a line %q", conf, b, want)
		}
	}
	var names []string
	t.Run("name", func(t *testing.T) {
		cs := each(func(i int, v hostile) *hcase {
			n := "kernel.pinery_hostile." + v.s
			return &hcase{typ: "sysctl", field: "name", check: persisted(n, "1"), vals: vals("name", n, "value", "1", "apply", false)}
		})
		drive(t, f.h, cs, false)
		if n := countGot(cs, converged); n < 5 {
			t.Errorf("only %d names converged", n)
		}
		for _, c := range cs {
			if c.got == converged {
				names = append(names, c.vals["name"].AsString())
			}
		}
	})
	t.Run("value", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n := "kernel.pinery_hostile_value" + strconv.Itoa(i)
			names = append(names, n)
			c := &hcase{typ: "sysctl", field: "value", check: persisted(n, v.s), vals: vals("name", n, "value", v.s, "apply", false)}
			if strings.TrimSpace(v.s) == "" || hasNUL(v.s) || hasBreak(v.s) {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("removed", func(t *testing.T) {
		var cs []*hcase
		for _, n := range names {
			cs = append(cs, (&hcase{typ: "sysctl", field: "name", value: hostile{n, n}, vals: vals("name", n, "value", "1", "apply", false, "persist", false)}).expect("", converged, rejected))
		}
		drive(t, f.h, cs, false)
		if out := mustRun(t, f.h, "ls /etc/sysctl.d | grep pinery_hostile; :"); out != "" {
			t.Errorf("left in /etc/sysctl.d:\n%s", out)
		}
	})
}

func countGot(cs []*hcase, s stage) int {
	n := 0
	for _, c := range cs {
		if c.got == s {
			n++
		}
	}
	return n
}

var cronName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// hostileCron: values as a job's name, command and an environment value,
// with a schedule that never comes (February 31st); then removed.
func hostileCron(t *testing.T, f *fixture) {
	t.Cleanup(func() { _, _ = run(f.h, "rm -f /etc/cron.d/pinery-ph_*") })
	const when = "0 0 31 2 *"
	job := func(name string, kv ...any) map[string]cty.Value {
		return vals(append([]any{"name", name, "schedule", when, "command", "true"}, kv...)...)
	}
	lineOf := func(name, prefix string) func(resource.Runner) (string, error) {
		return func(h resource.Runner) (string, error) {
			b, err := readFile(h, "/etc/cron.d/pinery-"+name)
			for _, l := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(l, prefix); ok && err == nil {
					return rest, nil
				}
			}
			return "", fmt.Errorf("/etc/cron.d/pinery-%s has no line %q… (%v): %q", name, prefix, err, b)
		}
	}
	var names []string
	t.Run("name", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n := "ph_" + v.s
			names = append(names, n)
			c := &hcase{typ: "cron", field: "name", vals: job(n)}
			c.check = func(h resource.Runner) error { _, err := lineOf(n, when+" root ")(h); return err }
			if !cronName.MatchString(n) || len(n) > 200 {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("command", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n := "ph_cmd_" + strconv.Itoa(i)
			names = append(names, n)
			c := &hcase{typ: "cron", field: "command", vals: job(n, "command", v.s)}
			c.check = func(h resource.Runner) error {
				got, err := lineOf(n, when+" root ")(h)
				if err == nil && got != v.s {
					err = fmt.Errorf("the job's command is %q", got)
				}
				return err
			}
			if strings.TrimSpace(v.s) == "" || hasNUL(v.s) || hasBreak(v.s) || unescapedPercent(v.s) {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("environment", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n := "ph_env_" + strconv.Itoa(i)
			names = append(names, n)
			c := &hcase{typ: "cron", field: "environment", vals: job(n, "environment", env("V", v.s))}
			c.check = func(h resource.Runner) error {
				got, err := lineOf(n, "V=")(h)
				// cron takes a value in matching quotes without them.
				if len(got) >= 2 && (got[0] == '"' || got[0] == '\'') && got[len(got)-1] == got[0] {
					got = got[1 : len(got)-1]
				}
				if err == nil && got != v.s {
					err = fmt.Errorf("cron reads V as %q", got)
				}
				return err
			}
			quoted := v.s == "" || strings.TrimSpace(v.s) != v.s || strings.ContainsAny(v.s[:1], `'"`) || strings.ContainsAny(v.s[len(v.s)-1:], `'"`)
			if hasNUL(v.s) || hasBreak(v.s) || quoted && strings.Contains(v.s, `"`) && strings.Contains(v.s, "'") {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("absent", func(t *testing.T) {
		var cs []*hcase
		for _, n := range names {
			c := &hcase{typ: "cron", field: "name", value: hostile{n, n}, vals: vals("name", n, "state", "absent")}
			cs = append(cs, c.expect("", converged, rejected))
		}
		drive(t, f.h, cs, false)
		if out := mustRun(t, f.h, "ls /etc/cron.d | grep pinery-ph_; :"); out != "" {
			t.Errorf("left in /etc/cron.d:\n%s", out)
		}
	})
}

// unescapedPercent reports a % that cron would turn into a line break.
func unescapedPercent(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '%':
			return true
		}
	}
	return false
}
