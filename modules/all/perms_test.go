package all_test

import (
	"context"
	"io"
	"path"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// spy wraps mktemp and mv on a host: each call is logged with the mode of
// what it made or renames, at that moment, before the real program runs.
const spyMktemp = `#!/bin/sh
t=$(/usr/bin/mktemp "$@") || exit
m=$(stat -c %a -- "$t" 2>/dev/null) || m=name-only # mktemp -u
printf 'mktemp %s %s\n' "$m" "$t" >>"${0%/*}/log"
printf '%s\n' "$t"
`

const spyMv = `#!/bin/sh
n=$#
eval "src=\${$((n-1))} dst=\${$n}"
printf 'mv %s %s %s\n' "$(stat -c %a -- "$src" 2>/dev/null)" "$src" "$dst" >>"${0%/*}/log"
exec /bin/mv "$@"
`

// spyRunner runs every command with the spies first in PATH.
type spyRunner struct {
	h   resource.Runner
	dir string
}

func (s spyRunner) Run(ctx context.Context, cmd string, stdin io.Reader) (resource.Result, error) {
	return s.h.Run(ctx, "PATH="+s.dir+":$PATH; export PATH\n"+cmd, stdin)
}

// TestFleetTempFilesPrivate applies every module that writes files on a
// host, with mktemp and mv spied on: each temporary file or directory is
// private (0600, 0700) from its creation, sits in the directory of what
// it replaces (so that the rename is atomic, never across file systems),
// and has its final mode
// before the rename. Files with sensitive content end up 0600 unless a
// mode says otherwise.
func TestFleetTempFilesPrivate(t *testing.T) {
	f := newFixture(t, fleettest.Dial(t, "h2"))
	if _, err := run(f.h, "command -v git"); err != nil {
		mustRun(t, f.h, "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null")
	}
	spy := f.path("spy")
	mustRun(t, f.h, "mkdir -m 0700 "+q(spy)+" && printf '%s' "+q(spyMktemp)+" >"+q(spy+"/mktemp")+
		" && printf '%s' "+q(spyMv)+" >"+q(spy+"/mv")+" && chmod 0755 "+q(spy+"/mktemp")+" "+q(spy+"/mv")+
		" && : >"+q(spy+"/log"))
	const unit, job, key = "pinery-perms-test.target", "perms_test", "kernel.pinery_perms_test"
	t.Cleanup(func() {
		_, _ = run(f.h, "rm -f /etc/systemd/system/"+unit+" /etc/cron.d/pinery-"+job+" /etc/sysctl.d/60-pinery-"+key+".conf; systemctl daemon-reload")
	})
	src, sum := tarball(t)
	mustRun(t, f.h, `set -e; cd `+q(f.dir)+`; git init -q --bare -b main repo.git; git clone -q repo.git work 2>/dev/null
cd work; git config user.email t@example.org; git config user.name t; echo x >f; git add f; git commit -q -m x; git push -q origin main
printf 'a\n' >../edited; chmod 0640 ../edited`)
	fstabMode := strings.TrimSpace(mustRun(t, f.h, "stat -c %a /etc/fstab"))

	// Each writes the file whose final mode is given (empty: not a file).
	cases := []struct {
		typ, final string
		vals       map[string]cty.Value
		sens       []string
	}{
		{"file", "600", vals("path", f.path("secret"), "content", "hunter2\n"), []string{"content"}},
		{"file", "640", vals("path", f.path("asked"), "content", "x\n", "mode", "0640"), nil},
		{"file", "644", vals("path", f.path("plain"), "content", "x\n"), nil},
		{"line", "600", vals("path", f.path("secret-line"), "line", "token=hunter2", "create", true), []string{"line"}},
		{"line", "640", vals("path", f.path("edited"), "line", "b"), nil},
		{"systemd_unit", "644", vals("name", unit, "content", "[Unit]\nDescription=perms\n"), nil},
		{"cron", "644", vals("name", job, "schedule", "0 0 31 2 *", "command", "true"), nil},
		{"sysctl", "644", vals("name", key, "value", "1", "apply", false), nil},
		{"mount", fstabMode, vals("path", f.path("mnt"), "source", "tmpfs", "fstype", "tmpfs", "state", "present"), nil},
		{"mount", fstabMode, vals("path", f.path("mnt"), "state", "absent"), nil},
		{"symlink", "", vals("path", f.path("link"), "target", "secret"), nil},
		{"archive", "", vals("source", src, "sha256", sum, "destination", f.path("unpacked")), nil},
		{"git", "", vals("repository", f.path("repo.git"), "destination", f.path("checkout")), nil},
	}
	h := spyRunner{f.h, spy}
	finals := map[string]string{}
	for _, c := range cases {
		hc := (&hcase{typ: c.typ, field: "path", value: hostile{"perms", c.typ}, vals: c.vals, sens: c.sens}).expect("", converged)
		drive(t, h, []*hcase{hc}, false)
		if c.final == "" {
			continue
		}
		p := fileOf(hc)
		got := strings.TrimSpace(mustRun(t, f.h, "stat -c %a -- "+q(p)))
		if got != c.final {
			t.Errorf("%s: %s has mode %s, want %s", c.typ, p, got, c.final)
		}
		finals[p] = got
	}

	var mktemps, mvs int
	for _, l := range strings.Split(strings.TrimSpace(mustRun(t, f.h, "cat "+q(spy+"/log"))), "\n") {
		fs := strings.Fields(l)
		switch {
		case len(fs) == 3 && fs[0] == "mktemp":
			mktemps++
			if fs[1] != "600" && fs[1] != "700" && fs[1] != "name-only" {
				t.Errorf("mktemp made %s with mode %s", fs[2], fs[1])
			}
		case len(fs) == 4 && fs[0] == "mv":
			mvs++
			src, dst := fs[2], fs[3]
			if !strings.HasPrefix(src, path.Dir(dst)+"/") {
				t.Errorf("%s is renamed from outside its directory (%s): not atomic", dst, src)
			}
			if want, ok := finals[dst]; ok && fs[1] != want {
				t.Errorf("%s had mode %s when renamed over %s, which ends up %s", src, fs[1], dst, want)
			}
		default:
			t.Errorf("spy log line %q", l)
		}
	}
	if mktemps < len(cases)-1 || mvs < len(cases)-2 {
		t.Errorf("the spies saw %d mktemp and %d mv for %d writes: the modules did not run through them", mktemps, mvs, len(cases))
	}
}

// fileOf is the file a case writes.
func fileOf(c *hcase) string {
	switch c.typ {
	case "systemd_unit":
		return "/etc/systemd/system/" + c.vals["name"].AsString()
	case "cron":
		return "/etc/cron.d/pinery-" + c.vals["name"].AsString()
	case "sysctl":
		return "/etc/sysctl.d/60-pinery-" + c.vals["name"].AsString() + ".conf"
	case "mount":
		return "/etc/fstab"
	}
	return c.vals["path"].AsString()
}
