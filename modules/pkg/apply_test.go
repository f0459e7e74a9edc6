package pkg

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

func it(t *testing.T, name, op, spec string, more ...any) item {
	kv := map[string]cty.Value{"name": cty.StringVal(name)}
	for i := 0; i < len(more); i += 2 {
		kv[more[i].(string)] = more[i+1].(cty.Value)
	}
	return item{mustNew(t, kv), planned{Op: op, Spec: spec}}
}

func TestTransactions(t *testing.T) {
	norec := aptGet + " --no-install-recommends"
	tests := []struct {
		name  string
		items []item
		want  []command
	}{
		{"one install", []item{it(t, "nginx", "install", "nginx")}, []command{
			{"apt-get install", norec + " install nginx", []string{"nginx"}},
		}},
		{"installs, a pin and removals in one transaction", []item{
			it(t, "nginx", "install", "nginx"),
			it(t, "postgresql-15", "install", "postgresql-15=15.8-0+deb12u1~bpo1"),
			it(t, "exim4", "remove", "exim4"),
		}, []command{
			{"apt-get install", norec + " --allow-downgrades install nginx 'postgresql-15=15.8-0+deb12u1~bpo1' exim4-",
				[]string{"nginx", "postgresql-15=15.8-0+deb12u1~bpo1", "exim4"}},
		}},
		{"purges join an install", []item{
			it(t, "nginx", "install", "nginx"),
			it(t, "exim4", "purge", "exim4"),
		}, []command{
			{"apt-get install", norec + " --purge install nginx exim4-", []string{"nginx", "exim4"}},
		}},
		{"removes and purges", []item{
			it(t, "nginx", "install", "nginx"),
			it(t, "exim4", "purge", "exim4"),
			it(t, "telnet", "remove", "telnet"),
		}, []command{
			{"apt-get install", norec + " install nginx telnet-", []string{"nginx", "telnet"}},
			{"apt-get purge", aptGet + " purge exim4", []string{"exim4"}},
		}},
		{"recommends split", []item{
			it(t, "nginx", "install", "nginx"),
			it(t, "gnome-core", "install", "gnome-core", "install_recommends", cty.True),
		}, []command{
			{"apt-get install", norec + " install nginx", []string{"nginx"}},
			{"apt-get install", aptGet + " --install-recommends install gnome-core", []string{"gnome-core"}},
		}},
		{"removals only", []item{
			it(t, "exim4", "purge", "exim4"),
			it(t, "exim4-base", "purge", "exim4-base"),
			it(t, "telnet", "remove", "telnet"),
		}, []command{
			{"apt-get remove", aptGet + " remove telnet", []string{"telnet"}},
			{"apt-get purge", aptGet + " purge exim4 exim4-base", []string{"exim4", "exim4-base"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := transactions(tt.items)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestUpdateScriptChoice(t *testing.T) {
	if s := updateScript([]item{it(t, "exim4", "remove", "exim4")}); s != "" {
		t.Errorf("a removal must not update the lists:\n%s", s)
	}
	if s := updateScript([]item{it(t, "nginx", "install", "nginx", "update_cache", cty.False)}); s != "" {
		t.Errorf("update_cache = false must not update:\n%s", s)
	}
	s := updateScript([]item{
		it(t, "nginx", "install", "nginx", "cache_valid_time", resource.Num(7200)),
		it(t, "curl", "install", "curl", "cache_valid_time", resource.Num(90)),
	})
	if !strings.Contains(s, "-mmin -1.5 ") {
		t.Errorf("the shortest cache_valid_time wins:\n%s", s)
	}
	s = updateScript([]item{it(t, "nginx", "install", "nginx", "cache_valid_time", resource.Num(0))})
	if strings.Contains(s, "find ") || !strings.Contains(s, " update ") {
		t.Errorf("cache_valid_time = 0 always updates:\n%s", s)
	}
	// A pinned version the lists do not have: update however fresh they are.
	stale := it(t, "hello", "install", "hello=1.1", "cache_valid_time", resource.Num(7200))
	stale.pl.Stale = true
	s = updateScript([]item{it(t, "nginx", "install", "nginx", "cache_valid_time", resource.Num(7200)), stale})
	if strings.Contains(s, "find ") || !strings.Contains(s, " update ") {
		t.Errorf("a version missing from the lists must update them:\n%s", s)
	}
}

// applyAll runs ApplyAll for real through sh, with a fake apt-get.
func applyAll(t *testing.T, items ...item) error {
	t.Helper()
	var rs []resource.Resource
	var ds []*resource.Diff
	for _, it := range items {
		rs = append(rs, it.p)
		ds = append(ds, &resource.Diff{Action: resource.Create, Private: it.pl})
	}
	return rs[0].(*Package).ApplyAll(context.Background(), transport.NewLocal(), rs, ds)
}

func readLog(t *testing.T, log string) [][]string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	must(t, err)
	var calls [][]string
	var cur []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "--" {
			calls = append(calls, cur)
			cur = nil
			continue
		}
		cur = append(cur, l)
	}
	return calls
}

// verb returns the apt-get sub-command of a logged call.
func verb(call []string) string {
	for _, a := range call {
		switch a {
		case "update", "install", "remove", "purge":
			return a
		}
	}
	return "?"
}

func TestApplyAllLocal(t *testing.T) {
	lists, sources := aptTree(t)
	old := time.Now().Add(-2 * time.Hour)
	must(t, os.WriteFile(filepath.Join(lists, "x_Packages"), nil, 0o644))
	must(t, os.WriteFile(sources, nil, 0o644))
	for _, p := range []string{sources, sources + ".d"} {
		must(t, os.Chtimes(p, old.Add(-time.Hour), old.Add(-time.Hour)))
	}
	log := fakeApt(t)
	reset := func() { _ = os.Remove(log) }

	t.Run("stale lists: one update, then one install", func(t *testing.T) {
		reset()
		must(t, os.Chtimes(lists, old, old))
		err := applyAll(t,
			it(t, "nginx", "install", "nginx"),
			it(t, "postgresql-15", "install", "postgresql-15=15.8-0+deb12u1~bpo1"),
			it(t, "exim4", "remove", "exim4"))
		must(t, err)
		calls := readLog(t, log)
		if len(calls) != 2 || verb(calls[0]) != "update" || verb(calls[1]) != "install" {
			t.Fatalf("calls = %q", calls)
		}
		// Arguments arrive exactly, after the shell.
		args := calls[1]
		if got := args[len(args)-3:]; !reflect.DeepEqual(got, []string{"nginx", "postgresql-15=15.8-0+deb12u1~bpo1", "exim4-"}) {
			t.Errorf("install arguments = %q", args)
		}
		for _, want := range []string{"-y", "APT::Cmd::Pattern-Only=1", "Dpkg::Options::=--force-confold", "--no-install-recommends", "--allow-downgrades"} {
			if !contains(args, want) {
				t.Errorf("install arguments lack %q: %q", want, args)
			}
		}
		if fi, _ := os.Stat(lists); time.Since(fi.ModTime()) > time.Minute {
			t.Error("a successful update must mark the lists fresh")
		}
	})
	t.Run("fresh lists: no update", func(t *testing.T) {
		reset()
		must(t, applyAll(t, it(t, "nginx", "install", "nginx")))
		if calls := readLog(t, log); len(calls) != 1 || verb(calls[0]) != "install" {
			t.Fatalf("calls = %q", calls)
		}
	})
	t.Run("a source added since the last update: update", func(t *testing.T) {
		reset()
		must(t, os.Chtimes(lists, old, old))
		// Fresh by the stamp, but a source is newer than the lists.
		must(t, os.MkdirAll(filepath.Dir(successStamp), 0o755))
		must(t, os.WriteFile(successStamp, nil, 0o644))
		must(t, os.WriteFile(sources+".d/extra.list", []byte("deb http://x y main\n"), 0o644))
		must(t, applyAll(t, it(t, "nginx", "install", "nginx")))
		if calls := readLog(t, log); len(calls) != 2 || verb(calls[0]) != "update" {
			t.Fatalf("calls = %q", calls)
		}
	})
	t.Run("removal only: no update", func(t *testing.T) {
		reset()
		must(t, os.Chtimes(lists, old, old))
		must(t, applyAll(t, it(t, "exim4", "purge", "exim4")))
		if calls := readLog(t, log); len(calls) != 1 || verb(calls[0]) != "purge" {
			t.Fatalf("calls = %q", calls)
		}
	})
	t.Run("failed fetches do not make the lists fresh", func(t *testing.T) {
		reset()
		must(t, os.Chtimes(lists, old, old))
		t.Setenv("FAKE_APT_OUT", "Err:1 http://deb.debian.org/debian bookworm InRelease\n  Temporary failure resolving 'deb.debian.org'\nW: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'\nW: Some index files failed to download. They have been ignored, or old ones used instead.")
		must(t, applyAll(t, it(t, "nginx", "install", "nginx")))
		if fi, _ := os.Stat(lists); time.Since(fi.ModTime()) < time.Hour {
			t.Error("lists marked fresh after a failed fetch")
		}
	})
	t.Run("install error names the package and keeps the fetch warnings", func(t *testing.T) {
		reset()
		must(t, os.Chtimes(lists, old, old))
		t.Setenv("FAKE_APT_OUT", "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'\nE: Unable to locate package nginx-nope")
		t.Setenv("FAKE_APT_RC", "0")
		// The fake answers update and install alike; make install fail.
		dir := t.TempDir()
		wrapper := "#!/bin/sh\ncase \" $* \" in *' install '*) printf 'Reading package lists...\\nE: Unable to locate package nginx-nope\\n'; exit 100;; esac\nexec " +
			filepath.Join(filepath.Dir(log), "apt-get") + " \"$@\"\n"
		must(t, os.WriteFile(filepath.Join(dir, "apt-get"), []byte(wrapper), 0o755))
		t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
		err := applyAll(t, it(t, "nginx-nope", "install", "nginx-nope"))
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{"package nginx-nope: not found in the configured apt sources", "could not fetch some indexes", "Temporary failure resolving"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestApplySkipsEmptyAndChecksPrivate(t *testing.T) {
	r := &recorder{}
	p := mustNew(t, map[string]cty.Value{"name": cty.StringVal("nginx")})
	must(t, p.Apply(context.Background(), r, &resource.Diff{Action: resource.NoOp}))
	if len(r.scripts) != 0 {
		t.Fatalf("ran %q for an empty diff", r.scripts)
	}
	err := p.Apply(context.Background(), r, &resource.Diff{Action: resource.Create})
	if err == nil || !strings.Contains(err.Error(), "package nginx") {
		t.Fatalf("want an error naming the package, got %v", err)
	}
}

func TestApplyAllOneUpdateForMany(t *testing.T) {
	r := &recorder{}
	var rs []resource.Resource
	var ds []*resource.Diff
	for _, n := range []string{"nginx", "curl", "git", "htop"} {
		p := mustNew(t, map[string]cty.Value{"name": cty.StringVal(n)})
		rs = append(rs, p)
		ds = append(ds, &resource.Diff{Action: resource.Create, Private: planned{Op: "install", Spec: n}})
	}
	must(t, rs[0].(*Package).ApplyAll(context.Background(), r, rs, ds))
	if len(r.scripts) != 2 || !strings.Contains(r.scripts[0], " update ") ||
		!strings.HasSuffix(r.scripts[1], " install nginx curl git htop") {
		t.Fatalf("scripts = %q", r.scripts)
	}
}

// Real apt outputs (apt 2.6 on bookworm unless noted).
func TestAptError(t *testing.T) {
	tests := []struct {
		name  string
		out   string
		names []string
		want  []string
	}{
		{"not found", `Reading package lists...
Building dependency tree...
Reading state information...
E: Unable to locate package nginx-nope
E: Unable to locate package foo-bar`, nil, []string{
			"package nginx-nope: not found in the configured apt sources",
			"package foo-bar: not found in the configured apt sources"}},
		{"not found, apt 3 wording", "Error: Unable to locate package nginx-nope", nil,
			[]string{"package nginx-nope: not found in the configured apt sources"}},
		{"version", `Reading package lists...
E: Version '9.9' for 'bash' was not found`, nil, []string{"package bash: version 9.9 is not available"}},
		{"no candidate", `Package nano is not available, but is referred to by another package.
This may mean that the package is missing, has been obsoleted, or
is only available from another source

E: Package 'nano' has no installation candidate`, nil, []string{"package nano: has no installation candidate"}},
		{"frontend lock", `E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)
N: Be aware that removing the lock file is not a solution and may break your system.
E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?`, nil,
			[]string{"another apt/dpkg process holds the lock /var/lib/dpkg/lock-frontend (process 4242, unattended-upgr)"}},
		{"lists lock", `E: Could not get lock /var/lib/apt/lists/lock. It is held by process 977 (apt-get)
N: Be aware that removing the lock file is not a solution and may break your system.
E: Unable to lock directory /var/lib/apt/lists/`, nil,
			[]string{"another apt/dpkg process holds the lock /var/lib/apt/lists/lock (process 977, apt-get)"}},
		{"old lock wording (apt 1.x)", `E: Could not get lock /var/lib/dpkg/lock - open (11: Resource temporarily unavailable)
E: Unable to lock the administration directory (/var/lib/dpkg/), is another process using it?`, nil,
			[]string{"another apt/dpkg process holds the lock /var/lib/dpkg/lock"}},
		{"interrupted", `E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem.`, nil,
			[]string{`a previous dpkg run was interrupted: run "dpkg --configure -a"`}},
		{"held", `The following held packages will be changed:
  nginx
E: Held packages were changed and -y was used without --allow-change-held-packages.`, []string{"nginx"},
			[]string{"packages on hold", "nginx"}},
		{"unmet dependencies", `Some packages could not be installed. This may mean that you have
requested an impossible situation or if you are using the unstable
distribution that some required packages have not yet been created
or been moved out of Incoming.
The following information may help to resolve the situation:

The following packages have unmet dependencies:
 mypkg : Depends: libfoo2 (>= 2.0) but it is not going to be installed
E: Unable to correct problems, you have held broken packages.`, nil,
			[]string{"unmet dependencies:\n mypkg : Depends: libfoo2 (>= 2.0)"}},
		{"postinst failure", `Setting up nginx (1.22.1-9+deb12u1) ...
Job for nginx.service failed because the control process exited with error code.
See "systemctl status nginx.service" and "journalctl -xeu nginx.service" for details.
invoke-rc.d: initscript nginx, action "start" failed.
dpkg: error processing package nginx (--configure):
 installed nginx package post-installation script subprocess returned error exit status 1
Errors were encountered while processing:
 nginx
E: Sub-process /usr/bin/dpkg returned an error code (1)`, nil,
			[]string{"package nginx: dpkg failed (--configure): installed nginx package post-installation script subprocess returned error exit status 1", `action "start" failed`}},
		{"download", `Err:1 http://deb.debian.org/debian bookworm/main arm64 nginx arm64 1.22.1-9
  Temporary failure resolving 'deb.debian.org'
E: Failed to fetch http://deb.debian.org/debian/pool/main/n/nginx/nginx_1.22.1-9_arm64.deb  Temporary failure resolving 'deb.debian.org'
E: Unable to fetch some archives, maybe run apt-get update or try with --fix-missing?`, nil,
			[]string{"apt-get install: Failed to fetch http://deb.debian.org/debian/pool/main/n/nginx/nginx_1.22.1-9_arm64.deb"}},
		{"disk full", `E: You don't have enough free space in /var/cache/apt/archives/.`, nil,
			[]string{"apt-get install: You don't have enough free space in /var/cache/apt/archives/."}},
		{"unknown failure quotes apt", `E: Something new went wrong`, nil,
			[]string{"apt-get install: exit status 100: E: Something new went wrong"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := aptError("apt-get install", resource.Result{Stdout: []byte(tt.out + "\n"), ExitCode: 100}, tt.names)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
