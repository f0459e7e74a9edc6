package all_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// accountName is what the user and group modules accept as a name.
var accountName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)

// passwdField reads field n (1-based) of an account's line in the
// database (passwd, group, shadow) through getent.
func passwdField(h resource.Runner, db, name string, n int) (string, error) {
	out, err := run(h, "getent "+db+" "+q(name))
	if err != nil {
		return "", err
	}
	f := strings.Split(strings.TrimSuffix(out, "\n"), ":")
	if len(f) < n {
		return "", fmt.Errorf("getent %s %s: %q", db, name, out)
	}
	return f[n-1], nil
}

func fieldIs(db, name string, n int, want string) func(resource.Runner) error {
	return func(h resource.Runner) error {
		got, err := passwdField(h, db, name, n)
		if err == nil && got != want {
			err = fmt.Errorf("getent %s %s: field %d is %q, want %q", db, name, n, got, want)
		}
		return err
	}
}

func control(s string, also string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || strings.ContainsRune(also, r) }) >= 0
}

// hostileAccounts: values in group and user names (made and removed), and
// in a user's comment, home, shell, password hash and groups, changed one
// after another on one account each.
func hostileAccounts(t *testing.T, f *fixture) {
	t.Cleanup(func() {
		_, _ = run(f.h, `for u in $(cut -d: -f1 /etc/passwd | grep '^phu-'); do userdel -r -- "$u" 2>/dev/null; done
for g in $(cut -d: -f1 /etc/group | grep '^phg-'); do groupdel -- "$g"; done; :`)
	})
	name := func(prefix string, v hostile) (string, bool) {
		n := prefix + v.s
		return n, accountName.MatchString(n)
	}
	var groups, users []string
	t.Run("group name", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n, ok := name("phg-", v)
			c := &hcase{typ: "group", field: "name", vals: vals("name", n), check: fieldIs("group", n, 1, n)}
			if !ok {
				return c.expect("", rejected)
			}
			groups = append(groups, n)
			return c.expect("", converged)
		}), false)
	})
	t.Run("user name", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			n, ok := name("phu-", v)
			c := &hcase{typ: "user", field: "name", vals: vals("name", n, "create_home", false), check: fieldIs("passwd", n, 1, n)}
			if !ok {
				return c.expect("", rejected)
			}
			users = append(users, n)
			return c.expect("", converged)
		}), false)
	})
	users = append(users, "phu-gecos", "phu-home", "phu-shell", "phu-pass", "phu-grp")
	field := func(user, field string, n int, bad func(string) bool) {
		t.Run(field, func(t *testing.T) {
			drive(t, f.h, each(func(i int, v hostile) *hcase {
				val := v.s
				if field == "home" || field == "shell" {
					val = f.path(field, v.s)
				}
				c := &hcase{typ: "user", field: field, vals: vals("name", user, field, val, "create_home", false)}
				if field == "password_hash" {
					c.sens = []string{field}
				}
				c.check = fieldIs("passwd", user, n, val)
				if field == "password_hash" {
					c.check = fieldIs("shadow", user, n, val)
				}
				if bad(val) {
					return c.expect("", rejected)
				}
				return c.expect("", converged)
			}), true)
		})
	}
	field("phu-gecos", "comment", 5, func(s string) bool { return control(s, ":") })
	path := func(s string) bool { return control(s, ":") || !clean(f.dir, s[len(f.dir)+1:]) }
	field("phu-home", "home", 6, path)
	field("phu-shell", "shell", 7, path)
	field("phu-pass", "password_hash", 2, func(s string) bool {
		return s == "" || !strings.ContainsAny(s[:1], "$!*") ||
			strings.IndexFunc(s, func(r rune) bool {
				return r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII
			}) >= 0
	})
	t.Run("groups", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			g, ok := name("phg-", v)
			c := &hcase{typ: "user", field: "groups", vals: vals("name", "phu-grp", "groups", cty.ListVal([]cty.Value{str(g)}), "create_home", false)}
			c.check = func(h resource.Runner) error {
				got, err := run(h, "id -nG phu-grp")
				if err == nil && !strings.Contains(" "+strings.TrimSpace(got)+" ", " "+g+" ") {
					err = fmt.Errorf("phu-grp is in %q, not %s", got, g)
				}
				return err
			}
			if !ok {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), true)
	})
	t.Run("removed", func(t *testing.T) {
		var cs []*hcase
		for _, u := range users {
			cs = append(cs, (&hcase{typ: "user", field: "name", value: hostile{u, u}, vals: vals("name", u, "state", "absent")}).expect("", converged))
		}
		drive(t, f.h, cs, false)
		cs = nil
		for _, g := range groups {
			cs = append(cs, (&hcase{typ: "group", field: "name", value: hostile{g, g}, vals: vals("name", g, "state", "absent")}).expect("", converged))
		}
		drive(t, f.h, cs, false)
		if out := mustRun(t, f.h, "grep -E '^ph[ug]-' /etc/passwd /etc/group; :"); out != "" {
			t.Errorf("accounts left:\n%s", out)
		}
	})
}
