package all_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func env(kv ...string) cty.Value {
	m := map[string]cty.Value{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = str(kv[i+1])
	}
	return cty.MapVal(m)
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// hostileExec: values reach the command through a sensitive environment,
// as a quoted argument, as creates and as cwd; each command writes what it
// got, and creates makes a second plan empty.
func hostileExec(t *testing.T, f *fixture) {
	mustRun(t, f.h, "mkdir -- "+q(f.path("e")))
	out := func(set string, i int) string { return f.path("e", set+"-"+strconv.Itoa(i)) }
	t.Run("environment", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			o := out("env", i)
			c := &hcase{typ: "exec", field: "environment", sens: []string{"environment"}, vals: vals(
				"command", `printf '%s' "$V" >"$OUT"`, "environment", env("V", v.s, "OUT", o), "creates", o)}
			c.check = func(h resource.Runner) error { return sameFile(h, o, v.s) }
			if hasNUL(v.s) {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("command argument", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			o := out("arg", i)
			c := &hcase{typ: "exec", field: "command", vals: vals(
				"command", "printf '%s' "+q(v.s)+" >"+q(o), "creates", o)}
			c.check = func(h resource.Runner) error { return sameFile(h, o, v.s) }
			if hasNUL(v.s) {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("creates", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			p := f.path("ec", strconv.Itoa(i), v.s)
			c := &hcase{typ: "exec", field: "creates", vals: vals(
				"command", `mkdir -p -- "$(dirname -- "$C")" && : >"$C"`, "environment", env("C", p), "creates", p)}
			c.check = func(h resource.Runner) error {
				_, err := run(h, "[ -e "+q(p)+" ]")
				return err
			}
			switch {
			case hasNUL(v.s):
				return c.expect("", rejected)
			case v.s == "" || v.s == "." || v.s == ".." || tooLong(v.s):
				return c.expect("exit status", applyFailed) // a directory, or a name too long
			}
			return c.expect("", converged)
		}), false)
	})
	// The directories of hostileDirectory's path cases are the cwd.
	t.Run("cwd", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			cwd, o := f.path("d", v.s), out("cwd", i)
			c := &hcase{typ: "exec", field: "cwd", vals: vals(
				"command", `printf '%s' "$PWD" >"$OUT"`, "environment", env("OUT", o), "creates", o, "cwd", cwd)}
			switch {
			case hasNUL(v.s):
				return c.expect("", rejected)
			case !clean(f.path("d"), v.s) || tooLong(v.s):
				return c.expect("", converged, applyFailed) // a directory elsewhere, or none
			}
			c.check = func(h resource.Runner) error { return sameFile(h, o, cwd) }
			return c.expect("", converged)
		}), false)
	})
	t.Run("environment name", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			o := out("name", i)
			if v.s == "OUT" {
				return nil
			}
			c := &hcase{typ: "exec", field: "environment", vals: vals(
				"command", `: >"$OUT"`, "environment", env(v.s, "1", "OUT", o), "creates", o)}
			if !envName.MatchString(v.s) {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
}

// hostileGit: values as the destination, as the repository's path (a
// link to a real repository) and as a branch name (made in it).
func hostileGit(t *testing.T, f *fixture) {
	if _, err := run(f.h, "command -v git"); err != nil {
		mustRun(t, f.h, "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null")
	}
	repo := f.path("repo.git")
	mustRun(t, f.h, `set -e
cd `+q(f.dir)+`
git init -q --bare -b main repo.git
git clone -q repo.git work 2>/dev/null
cd work
git config user.email t@example.org; git config user.name t
echo one >f; git add f; git commit -q -m one
git push -q origin main
mkdir ../g ../r`)
	commit := strings.TrimSpace(mustRun(t, f.h, "git -C "+q(repo)+" rev-parse main"))
	at := func(dest string) func(resource.Runner) error {
		return func(h resource.Runner) error {
			got, err := run(h, "git -C "+q(dest)+" rev-parse HEAD")
			if err == nil && strings.TrimSpace(got) != commit {
				err = fmt.Errorf("%s is at %q, want %s", dest, got, commit)
			}
			return err
		}
	}
	t.Run("destination", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			d := f.path("g", v.s)
			c := &hcase{typ: "git", field: "destination", vals: vals("repository", repo, "destination", d, "ref", "main"), check: at(d)}
			if hasBreak(v.s) {
				return c.expect("", rejected)
			}
			return c.pathCase(f.path("g"), v, false)
		}), false)
	})
	t.Run("repository", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			if v.s == "" || v.s == "." || v.s == ".." || strings.Contains(v.s, "/") || hasNUL(v.s) || tooLong(v.s) {
				return nil // not a name the link to the repository can have
			}
			r, d := f.path("r", v.s), f.path("gr-"+strconv.Itoa(i))
			c := &hcase{typ: "git", field: "repository", vals: vals("repository", r, "destination", d, "ref", "main")}
			c.check = func(h resource.Runner) error {
				got, err := run(h, "git -C "+q(d)+" config --get remote.origin.url")
				if err == nil && got != r+"\n" {
					err = fmt.Errorf("origin is %q, want %q", got, r)
				}
				if err != nil {
					return err
				}
				return at(d)(h)
			}
			if hasBreak(v.s) {
				return c.expect("", rejected)
			}
			mustRun(t, f.h, "ln -s ../repo.git "+q(r))
			return c.expect("", converged)
		}), false)
	})
	t.Run("ref", func(t *testing.T) {
		// Branches for every value git takes as a branch name.
		var b strings.Builder
		for _, v := range hostileValues() {
			if !hasNUL(v.s) && !hasBreak(v.s) {
				fmt.Fprintf(&b, "git -C %s update-ref %s %s 2>/dev/null\n", q(repo), q("refs/heads/"+v.s), commit)
			}
		}
		b.WriteString(":\n")
		mustRun(t, f.h, b.String())
		branches := map[string]bool{}
		for _, l := range strings.Split(mustRun(t, f.h, "git -C "+q(repo)+" for-each-ref --format='%(refname)' refs/heads/"), "\n") {
			if b, ok := strings.CutPrefix(l, "refs/heads/"); ok {
				branches[b] = true
			}
		}
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			d := f.path("gref-" + strconv.Itoa(i))
			c := &hcase{typ: "git", field: "ref", vals: vals("repository", repo, "destination", d, "ref", v.s), check: at(d)}
			// Every name git takes is taken, but for a leading dash (an
			// option); a name git refuses may be refused, or be a missing
			// branch at plan time.
			switch {
			case branches[v.s] && strings.HasPrefix(v.s, "-"):
				return c.expect("", rejected)
			case branches[v.s]:
				return c.expect("", converged)
			}
			return c.expect("has no branch or tag", rejected, planFailed)
		}), false)
	})
}
