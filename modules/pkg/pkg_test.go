package pkg

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func TestNewValidation(t *testing.T) {
	s := cty.StringVal
	tests := []struct {
		name  string
		kv    map[string]cty.Value
		field string // "" when valid
	}{
		{"plain", map[string]cty.Value{"name": s("nginx")}, ""},
		{"plus and dots", map[string]cty.Value{"name": s("libstdc++6")}, ""},
		{"arch", map[string]cty.Value{"name": s("libc6:armhf")}, ""},
		{"pinned", map[string]cty.Value{"name": s("nginx"), "version": s("1:1.22.1-9+deb12u1~bpo1")}, ""},
		{"latest", map[string]cty.Value{"name": s("nginx"), "state": s("latest")}, ""},
		{"purged", map[string]cty.Value{"name": s("exim4"), "state": s("purged")}, ""},
		{"upper case", map[string]cty.Value{"name": s("Nginx")}, "name"},
		{"one char", map[string]cty.Value{"name": s("a")}, "name"},
		{"leading dash", map[string]cty.Value{"name": s("-y")}, "name"},
		{"space", map[string]cty.Value{"name": s("nginx curl")}, "name"},
		{"command substitution", map[string]cty.Value{"name": s("$(reboot)")}, "name"},
		{"backticks", map[string]cty.Value{"name": s("a`id`")}, "name"},
		{"semicolon", map[string]cty.Value{"name": s("nginx;reboot")}, "name"},
		{"newline", map[string]cty.Value{"name": s("nginx\nreboot")}, "name"},
		{"quote", map[string]cty.Value{"name": s("ng'inx")}, "name"},
		{"glob", map[string]cty.Value{"name": s("ngin*")}, "name"},
		{"pattern", map[string]cty.Value{"name": s("?name(x)")}, "name"},
		{"empty", map[string]cty.Value{"name": s("")}, "name"},
		{"bad state", map[string]cty.Value{"name": s("nginx"), "state": s("installed")}, "state"},
		{"bad version", map[string]cty.Value{"name": s("nginx"), "version": s("1.0 ; reboot")}, "version"},
		{"version dash", map[string]cty.Value{"name": s("nginx"), "version": s("-1")}, "version"},
		{"version with latest", map[string]cty.Value{"name": s("nginx"), "version": s("1.0"), "state": s("latest")}, "version"},
		{"version with absent", map[string]cty.Value{"name": s("nginx"), "version": s("1.0"), "state": s("absent")}, "version"},
		{"negative cache time", map[string]cty.Value{"name": s("nginx"), "cache_valid_time": resource.Num(-1)}, "cache_valid_time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(cfg(tt.kv))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("want error on %q, got %v", tt.field, err)
			}
		})
	}
}

// Real apt-cache policy outputs (bookworm, apt 2.6).
const (
	policyBash = `policy=begin
bash:
  Installed: 5.2.15-2+b8
  Candidate: 5.2.15-2+b13
  Version table:
     5.2.15-2+b13 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
 *** 5.2.15-2+b8 100
        100 /var/lib/dpkg/status
policy=end 0
`
	policyBashCurrent = `policy=begin
bash:
  Installed: 5.2.15-2+b13
  Candidate: 5.2.15-2+b13
  Version table:
 *** 5.2.15-2+b13 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
policy=end 0
`
	policyNginx = `policy=begin
nginx:
  Installed: (none)
  Candidate: 1.22.1-9+deb12u1
  Version table:
     1.22.1-9+deb12u1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
     1.22.1-9 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
policy=end 0
`
	policyUnknown = "policy=begin\npolicy=end 0\n"
	policyVirtual = `policy=begin
mail-transport-agent:
  Installed: (none)
  Candidate: (none)
  Version table:
policy=end 0
`
)

func TestPlan(t *testing.T) {
	s := cty.StringVal
	nginx := map[string]cty.Value{"name": s("nginx")}
	with := func(kv map[string]cty.Value, more ...any) map[string]cty.Value {
		out := map[string]cty.Value{}
		for k, v := range kv {
			out[k] = v
		}
		for i := 0; i < len(more); i += 2 {
			out[more[i].(string)] = more[i+1].(cty.Value)
		}
		return out
	}
	bash := map[string]cty.Value{"name": s("bash")}
	tests := []struct {
		name    string
		kv      map[string]cty.Value
		out     string
		action  resource.Action
		changes []resource.Change
		private any
	}{
		{"present installed", nginx, "dpkg=ii |1.22.1-9|\ndpkgrc=0\n", resource.NoOp, nil, nil},
		{"present triggers pending", nginx, "dpkg=it |1.22.1-9|\ndpkgrc=0\n", resource.NoOp, nil, nil},
		{"present held", nginx, "dpkg=hi |1.22.1-9|\ndpkgrc=0\n", resource.NoOp, nil, nil},
		{"present missing", nginx, "dpkgrc=1\n" + policyNginx, resource.Create,
			[]resource.Change{{Field: "state", Old: "absent", New: "present"}, {Field: "version", New: "1.22.1-9+deb12u1"}},
			planned{Op: "install", Spec: "nginx"}},
		{"present not in lists", nginx, "dpkgrc=1\n" + policyUnknown, resource.Create,
			[]resource.Change{{Field: "state", Old: "absent", New: "present"}, {Field: "version", New: "(known after apply): not in the apt lists yet"}},
			planned{Op: "install", Spec: "nginx"}},
		{"present virtual", with(nginx, "name", s("mail-transport-agent")), "dpkgrc=1\n" + policyVirtual, resource.Create,
			[]resource.Change{{Field: "state", Old: "absent", New: "present"}, {Field: "version", New: "(known after apply): apt has no installation candidate yet"}},
			planned{Op: "install", Spec: "mail-transport-agent"}},
		{"present config files left", nginx, "dpkg=rc |1.22.1-9|\ndpkgrc=0\n" + policyNginx, resource.Create,
			[]resource.Change{{Field: "state", Old: "config-files", New: "present"}, {Field: "version", New: "1.22.1-9+deb12u1"}},
			planned{Op: "install", Spec: "nginx"}},
		{"present purged entry", nginx, "dpkg=pn ||\ndpkgrc=0\n" + policyNginx, resource.Create,
			[]resource.Change{{Field: "state", Old: "absent", New: "present"}, {Field: "version", New: "1.22.1-9+deb12u1"}},
			planned{Op: "install", Spec: "nginx"}},
		{"present half-configured", nginx, "dpkg=iF |1.22.1-9|\ndpkgrc=0\n" + policyNginx, resource.Update,
			[]resource.Change{{Field: "state", Old: "half-configured", New: "present"}},
			planned{Op: "install", Spec: "nginx"}},
		{"multiarch one installed", with(nginx, "name", s("libc6")), "dpkg=un ||\ndpkg=ii |2.36-9|\ndpkgrc=0\n", resource.NoOp, nil, nil},

		{"pinned same", with(nginx, "version", s("1.22.1-9")), "dpkg=ii |1.22.1-9|\ndpkgrc=0\n", resource.NoOp, nil, nil},
		{"pinned other", with(nginx, "version", s("1.22.1-9")), "dpkg=ii |1.22.1-9+deb12u1|\ndpkgrc=0\n" + policyNginx, resource.Update,
			[]resource.Change{{Field: "version", Old: "1.22.1-9+deb12u1", New: "1.22.1-9"}},
			planned{Op: "install", Spec: "nginx=1.22.1-9"}},
		{"pinned unavailable", with(nginx, "version", s("1.24.0-1")), "dpkg=ii |1.22.1-9|\ndpkgrc=0\n" + policyNginx, resource.Update,
			[]resource.Change{{Field: "version", Old: "1.22.1-9", New: "1.24.0-1 (not in the apt lists yet)"}},
			planned{Op: "install", Spec: "nginx=1.24.0-1", Stale: true}},
		{"pinned missing", with(nginx, "version", s("1.22.1-9")), "dpkgrc=1\n" + policyNginx, resource.Create,
			[]resource.Change{{Field: "state", Old: "absent", New: "present"}, {Field: "version", New: "1.22.1-9"}},
			planned{Op: "install", Spec: "nginx=1.22.1-9"}},

		{"latest current", with(bash, "state", s("latest")), "dpkg=ii |5.2.15-2+b13|\ndpkgrc=0\n" + policyBashCurrent + "lists=fresh\nlists=present\n", resource.NoOp, nil, nil},
		{"latest upgrade", with(bash, "state", s("latest")), "dpkg=ii |5.2.15-2+b8|\ndpkgrc=0\n" + policyBash + "lists=fresh\nlists=present\n", resource.Update,
			[]resource.Change{{Field: "version", Old: "5.2.15-2+b8", New: "5.2.15-2+b13"}},
			planned{Op: "install", Spec: "bash"}},
		{"latest stale lists", with(bash, "state", s("latest")), "dpkg=ii |5.2.15-2+b13|\ndpkgrc=0\n" + policyBashCurrent + "lists=present\n", resource.Update,
			[]resource.Change{{Field: "version", Old: "5.2.15-2+b13", New: "newest after apt-get update (known after apply)"}},
			planned{Op: "install", Spec: "bash"}},
		{"latest sources changed", with(bash, "state", s("latest")), "dpkg=ii |5.2.15-2+b13|\ndpkgrc=0\n" + policyBashCurrent + "lists=fresh\nlists=sources-changed\nlists=present\n", resource.Update,
			[]resource.Change{{Field: "version", Old: "5.2.15-2+b13", New: "newest after apt-get update (known after apply)"}},
			planned{Op: "install", Spec: "bash"}},
		{"latest stale but no update_cache", with(bash, "state", s("latest"), "update_cache", cty.False), "dpkg=ii |5.2.15-2+b13|\ndpkgrc=0\n" + policyBashCurrent, resource.NoOp, nil, nil},
		{"latest with cache time 0", with(bash, "state", s("latest"), "cache_valid_time", resource.Num(0)), "dpkg=ii |5.2.15-2+b13|\ndpkgrc=0\n" + policyBashCurrent, resource.Update,
			[]resource.Change{{Field: "version", Old: "5.2.15-2+b13", New: "newest after apt-get update (known after apply)"}},
			planned{Op: "install", Spec: "bash"}},
		{"latest missing", with(nginx, "state", s("latest")), "dpkgrc=1\n" + policyNginx + "lists=fresh\nlists=present\n", resource.Create,
			[]resource.Change{{Field: "state", Old: "absent", New: "latest"}, {Field: "version", New: "1.22.1-9+deb12u1"}},
			planned{Op: "install", Spec: "nginx"}},

		{"absent installed", with(nginx, "state", s("absent")), "dpkg=ii |1.22.1-9|\ndpkgrc=0\n", resource.Delete,
			[]resource.Change{{Field: "state", Old: "installed", New: "absent"}, {Field: "version", Old: "1.22.1-9"}},
			planned{Op: "remove", Spec: "nginx"}},
		{"absent config files", with(nginx, "state", s("absent")), "dpkg=rc |1.22.1-9|\ndpkgrc=0\n", resource.NoOp, nil, nil},
		{"absent unknown", with(nginx, "state", s("absent")), "dpkgrc=1\n", resource.NoOp, nil, nil},
		{"absent unpacked", with(nginx, "state", s("absent")), "dpkg=iU |1.22.1-9|\ndpkgrc=0\n", resource.Delete,
			[]resource.Change{{Field: "state", Old: "unpacked", New: "absent"}, {Field: "version", Old: "1.22.1-9"}},
			planned{Op: "remove", Spec: "nginx"}},
		{"purged config files", with(nginx, "state", s("purged")), "dpkg=rc |1.22.1-9|\ndpkgrc=0\n", resource.Delete,
			[]resource.Change{{Field: "state", Old: "config-files", New: "purged"}},
			planned{Op: "purge", Spec: "nginx"}},
		{"purged installed", with(nginx, "state", s("purged")), "dpkg=ii |1.22.1-9|\ndpkgrc=0\n", resource.Delete,
			[]resource.Change{{Field: "state", Old: "installed", New: "purged"}, {Field: "version", Old: "1.22.1-9"}},
			planned{Op: "purge", Spec: "nginx"}},
		{"purged gone", with(nginx, "state", s("purged")), "dpkg=pn ||\ndpkgrc=0\n", resource.NoOp, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.kv)
			d, err := p.Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if d.Action != tt.action {
				t.Fatalf("action = %v, want %v (changes %+v)", d.Action, tt.action, d.Changes)
			}
			if !reflect.DeepEqual(d.Changes, tt.changes) {
				t.Errorf("changes:\n got %+v\nwant %+v", d.Changes, tt.changes)
			}
			if !reflect.DeepEqual(d.Private, tt.private) {
				t.Errorf("private = %+v, want %+v", d.Private, tt.private)
			}
		})
	}
}

func TestPlanMalformed(t *testing.T) {
	tests := []struct{ name, state, out, want string }{
		{"garbage", "present", "dpkgrc=0\nhello\n", "unexpected line"},
		{"no status", "present", "", "no dpkg-query status"},
		{"bad rc", "present", "dpkgrc=x\n", "bad line"},
		{"short abbrev", "present", "dpkg=ii|1.0|\ndpkgrc=0\n", "bad dpkg-query line"},
		{"unknown status", "present", "dpkg=iX |1.0|\ndpkgrc=0\n", "unknown dpkg status"},
		{"policy cut", "present", "dpkgrc=1\npolicy=begin\nnginx:\n", "cut short"},
		{"no dpkg", "present", "dpkgrc=127\n", "needs a Debian host"},
		{"dpkg failed", "absent", "dpkgrc=2\n", "exit status 2"},
		{"latest without policy", "latest", "dpkg=ii |1.0|\ndpkgrc=0\n", "no apt-cache policy"},
		{"no apt-cache", "latest", "dpkg=ii |1.0|\ndpkgrc=0\npolicy=begin\npolicy=end 127\n", "apt-cache not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, map[string]cty.Value{"name": cty.StringVal("nginx"), "state": cty.StringVal(tt.state)})
			d, err := p.Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v (diff %+v)", tt.want, err, d)
			}
			if !strings.Contains(err.Error(), "package nginx") {
				t.Errorf("error does not name the package: %v", err)
			}
		})
	}
}

// The probes run for real, read-only, against this machine's dpkg.
func TestProbeLocalDpkg(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("no dpkg on this machine")
	}
	s := cty.StringVal
	bashVersion := strings.TrimSpace(runLocal(t, "dpkg-query -W -f='${Version}' bash"))
	tests := []struct {
		name   string
		kv     map[string]cty.Value
		action resource.Action
		check  func(t *testing.T, d *resource.Diff)
	}{
		{"bash present", map[string]cty.Value{"name": s("bash")}, resource.NoOp, nil},
		{"coreutils present", map[string]cty.Value{"name": s("coreutils")}, resource.NoOp, nil},
		{"bash pinned to installed", map[string]cty.Value{"name": s("bash"), "version": s(bashVersion)}, resource.NoOp, nil},
		{"bash pinned elsewhere", map[string]cty.Value{"name": s("bash"), "version": s("0.1-1")}, resource.Update,
			func(t *testing.T, d *resource.Diff) {
				want := []resource.Change{{Field: "version", Old: bashVersion, New: "0.1-1 (not in the apt lists yet)"}}
				if !reflect.DeepEqual(d.Changes, want) {
					t.Errorf("changes = %+v, want %+v", d.Changes, want)
				}
			}},
		{"coreutils absent", map[string]cty.Value{"name": s("coreutils"), "state": s("absent")}, resource.Delete, nil},
		{"nginx-nope present", map[string]cty.Value{"name": s("nginx-nope")}, resource.Create,
			func(t *testing.T, d *resource.Diff) {
				if len(d.Changes) != 2 || !strings.Contains(d.Changes[1].New, "not in the apt lists") {
					t.Errorf("changes = %+v", d.Changes)
				}
			}},
		{"nginx-nope absent", map[string]cty.Value{"name": s("nginx-nope"), "state": s("absent")}, resource.NoOp, nil},
		{"nginx-nope purged", map[string]cty.Value{"name": s("nginx-nope"), "state": s("purged")}, resource.NoOp, nil},
		// A name apt would read as a regular expression without
		// Pattern-Only: it must stay one unknown package.
		{"regex-like name", map[string]cty.Value{"name": s("bas.")}, resource.Create,
			func(t *testing.T, d *resource.Diff) {
				if len(d.Changes) != 2 || !strings.Contains(d.Changes[1].New, "not in the apt lists") {
					t.Errorf("changes = %+v", d.Changes)
				}
			}},
		{"bash latest", map[string]cty.Value{"name": s("bash"), "state": s("latest"), "update_cache": cty.False}, -1,
			func(t *testing.T, d *resource.Diff) {
				switch {
				case d.Action == resource.NoOp:
				case d.Action == resource.Update && d.Changes[0].Old == bashVersion:
				default:
					t.Errorf("diff = %+v", d)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := probe(t, mustNew(t, tt.kv))
			if tt.action >= 0 && d.Action != tt.action {
				t.Fatalf("action = %v, want %v (changes %+v)", d.Action, tt.action, d.Changes)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

// The freshness check runs for real against a temporary apt tree.
func TestListsCheck(t *testing.T) {
	lists, sources := aptTree(t)
	old := time.Now().Add(-2 * time.Hour)
	pkgs := filepath.Join(lists, "deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages.lz4")
	check := func(want listsState) {
		t.Helper()
		out := runLocal(t, listsCheck(3600))
		o, perr := parseProbe([]byte("dpkgrc=1\n" + out))
		if perr != nil {
			t.Fatal(perr)
		}
		if o.lists != want {
			t.Fatalf("lists = %+v, want %+v (find printed %q)", o.lists, want, out)
		}
	}
	must(t, os.Chtimes(sources+".d", old.Add(-time.Hour), old.Add(-time.Hour)))
	// Empty lists directory, just modified: fresh but no indexes.
	check(listsState{fresh: true})
	if err := os.WriteFile(pkgs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	check(listsState{fresh: true, present: true})
	must(t, os.Chtimes(lists, old, old))
	check(listsState{present: true})
	// A source written after the last update.
	must(t, os.WriteFile(sources, []byte("deb http://x y main\n"), 0o644))
	check(listsState{present: true, sourcesChanged: true})
	// After an update the lists directory is touched.
	now := time.Now()
	must(t, os.Chtimes(lists, now, now))
	check(listsState{fresh: true, present: true})
	// The Ubuntu/Ansible stamp counts as an update too.
	must(t, os.Chtimes(lists, old, old))
	must(t, os.Chtimes(sources, old.Add(-time.Hour), old.Add(-time.Hour)))
	must(t, os.MkdirAll(filepath.Dir(successStamp), 0o755))
	must(t, os.WriteFile(successStamp, nil, 0o644))
	check(listsState{fresh: true, present: true})
	// No apt at all.
	must(t, os.RemoveAll(lists))
	must(t, os.Remove(successStamp))
	check(listsState{})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
