package all_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/resource"
)

const unitPrefix = "pinery-hostile-"

// hostileUnits: values in unit names (a real oneshot service of that name
// is written, then started by a service resource), in a unit's content and
// in a drop-in's name; then stopped and removed.
func hostileUnits(t *testing.T, f *fixture) {
	t.Cleanup(func() {
		_, _ = run(f.h, "systemctl stop '"+unitPrefix+"*' 2>/dev/null; rm -rf /etc/systemd/system/"+unitPrefix+"*; systemctl daemon-reload")
	})
	const service = "[Unit]\nDescription=pinery hostile test\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
	var units []string
	written := map[string]bool{}
	t.Run("unit name", func(t *testing.T) {
		cs := each(func(i int, v hostile) *hcase {
			n := unitPrefix + v.s + ".service"
			c := &hcase{typ: "systemd_unit", field: "name", vals: vals("name", n, "content", service)}
			c.check = func(h resource.Runner) error {
				if err := sameFile(h, "/etc/systemd/system/"+n, service); err != nil {
					return err
				}
				got, err := run(h, "systemctl show -p LoadState --value -- "+q(n))
				if err == nil && got != "loaded\n" {
					err = fmt.Errorf("%s is %q", n, got)
				}
				return err
			}
			return c
		})
		drive(t, f.h, cs, false)
		for _, c := range cs {
			if c.got == converged {
				units = append(units, c.vals["name"].AsString())
				written[c.value.s] = true
			}
		}
		if len(units) < 8 {
			t.Errorf("only %d unit names converged", len(units))
		}
	})
	t.Run("service name", func(t *testing.T) {
		cs := each(func(i int, v hostile) *hcase {
			n := unitPrefix + v.s
			c := &hcase{typ: "service", field: "name", vals: vals("name", n, "state", "running")}
			c.check = func(h resource.Runner) error {
				got, err := run(h, "systemctl is-active -- "+q(n+".service"))
				if err == nil && got != "active\n" {
					err = fmt.Errorf("%s is %q", n, got)
				}
				return err
			}
			if written[v.s] {
				return c.expect("", converged)
			}
			return c.expect("unit not found", rejected, applyFailed)
		})
		drive(t, f.h, cs, false)
		stopped := make([]*hcase, 0, len(units))
		for _, c := range cs {
			if c.got == converged {
				stopped = append(stopped, (&hcase{typ: "service", field: "name", value: c.value, vals: vals("name", c.vals["name"].AsString(), "state", "stopped")}).expect("", converged))
			}
		}
		drive(t, f.h, stopped, false)
	})
	t.Run("content", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n := unitPrefix + "c" + strconv.Itoa(i) + ".target"
			units = append(units, n)
			content := "[Unit]\nDescription=pinery hostile test\n# " + v.s + "\n"
			c := &hcase{typ: "systemd_unit", field: "content", vals: vals("name", n, "content", content)}
			c.check = func(h resource.Runner) error { return sameFile(h, "/etc/systemd/system/"+n, content) }
			if hasNUL(v.s) {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("dropin", func(t *testing.T) {
		const u = unitPrefix + "dropins.target"
		cs := each(func(i int, v hostile) *hcase {
			c := &hcase{typ: "systemd_unit", field: "dropin", vals: vals("name", u, "dropin", v.s, "content", "[Unit]\nDescription=d\n")}
			c.check = func(h resource.Runner) error {
				return sameFile(h, "/etc/systemd/system/"+u+".d/"+strings.TrimSuffix(v.s, ".conf")+".conf", "[Unit]\nDescription=d\n")
			}
			return c
		})
		drive(t, f.h, cs, false)
		if n := countGot(cs, converged); n < 5 {
			t.Errorf("only %d drop-in names converged", n)
		}
		var absent []*hcase
		for _, c := range cs {
			if c.got == converged {
				absent = append(absent, (&hcase{typ: "systemd_unit", field: "dropin", value: c.value, vals: vals("name", u, "dropin", c.value.s, "state", "absent")}).expect("", converged))
			}
		}
		drive(t, f.h, absent, false)
	})
	t.Run("removed", func(t *testing.T) {
		var cs []*hcase
		for _, n := range units {
			cs = append(cs, (&hcase{typ: "systemd_unit", field: "name", value: hostile{n, n}, vals: vals("name", n, "state", "absent")}).expect("", converged))
		}
		drive(t, f.h, cs, false)
		if out := mustRun(t, f.h, "ls /etc/systemd/system | grep "+unitPrefix+"; :"); out != "" {
			t.Errorf("left in /etc/systemd/system:\n%s", out)
		}
	})
}

var (
	pkgName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9][a-z0-9-]*)?$`)
	pkgVersion = regexp.MustCompile(`^([0-9]+:)?[A-Za-z0-9][A-Za-z0-9.+~-]*$`)
)

// hostilePackage: values in package names (absent: nothing to do; present:
// apt cannot find them) and in a pinned version; no apt-get update runs.
func hostilePackage(t *testing.T, f *fixture) {
	t.Run("absent", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n := unitPrefix + v.s
			c := &hcase{typ: "package", field: "name", vals: vals("name", n, "state", "absent")}
			if !pkgName.MatchString(n) {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("present", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n := unitPrefix + v.s
			c := &hcase{typ: "package", field: "name", vals: vals("name", n, "update_cache", false)}
			if !pkgName.MatchString(n) {
				return c.expect("", rejected)
			}
			return c.expect(n, planFailed, applyFailed)
		}), false)
	})
	t.Run("version", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			c := &hcase{typ: "package", field: "version", vals: vals("name", "pinery-hostile-pinned", "version", v.s, "update_cache", false)}
			if !pkgVersion.MatchString(v.s) {
				return c.expect("", rejected)
			}
			return c.expect("pinery-hostile-pinned", planFailed, applyFailed)
		}), false)
	})
}
