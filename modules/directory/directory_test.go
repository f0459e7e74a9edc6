package directory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"relative", map[string]cty.Value{"path": str("var/x")}, "path", "absolute"},
		{"empty", map[string]cty.Value{"path": str("")}, "path", "empty"},
		{"root", map[string]cty.Value{"path": str("/")}, "path", "/ itself"},
		{"trailing slash", map[string]cty.Value{"path": str("/var/x/")}, "path", `"/var/x"`},
		{"dot", map[string]cty.Value{"path": str("/var/./x")}, "path", "clean"},
		{"state", map[string]cty.Value{"path": str("/var/x"), "state": str("directory")}, "state", `"present" or "absent"`},
		{"mode", map[string]cty.Value{"path": str("/var/x"), "mode": str("rwx")}, "mode", "octal"},
		{"mode 8", map[string]cty.Value{"path": str("/var/x"), "mode": str("0785")}, "mode", "octal"},
		{"mode short", map[string]cty.Value{"path": str("/var/x"), "mode": str("75")}, "mode", "octal"},
		{"owner colon", map[string]cty.Value{"path": str("/var/x"), "owner": str("a:b")}, "owner", "':'"},
		{"group newline", map[string]cty.Value{"path": str("/var/x"), "group": str("a\nb")}, "group", "without"},
		{"force when present", map[string]cty.Value{"path": str("/var/x"), "force": cty.True}, "force", "absent"},
		{"owner when absent", map[string]cty.Value{"path": str("/var/x"), "owner": str("root"), "state": str("absent")}, "owner", "no effect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, "", tt.vals))
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

func TestPlanTable(t *testing.T) {
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		exit    int
		action  resource.Action
		changes []resource.Change
		priv    *Private
		err     string
	}{
		{
			name: "create with default mode", out: "type=none\n", action: resource.Create,
			changes: []resource.Change{{Field: "mode", New: "0755"}},
			priv:    &Private{Create: true, Mode: "0755"},
		},
		{
			name: "create with owner", vals: map[string]cty.Value{"mode": str("2770"), "owner": str("render"), "group": str("1001")},
			out: "type=none\n", action: resource.Create,
			changes: []resource.Change{{Field: "mode", New: "2770"}, {Field: "owner", New: "render"}, {Field: "group", New: "1001"}},
			priv:    &Private{Create: true, Mode: "2770", Chown: "render:+1001"},
		},
		{name: "exists, nothing asked", out: "type=directory\nstat=700 1000 1000 alice alice\n", action: resource.NoOp},
		{
			name: "converged", vals: map[string]cty.Value{"mode": str("0755"), "owner": str("0"), "group": str("root")},
			out: "type=directory\nstat=755 0 0 root root\n", action: resource.NoOp,
		},
		{
			name: "setgid bit differs", vals: map[string]cty.Value{"mode": str("0755")},
			out: "type=directory\nstat=2755 0 0 root root\n", action: resource.Update,
			changes: []resource.Change{{Field: "mode", Old: "2755", New: "0755"}}, priv: &Private{Mode: "0755"},
		},
		{
			name: "owner only", vals: map[string]cty.Value{"owner": str("nobody")},
			out: "type=directory\nstat=755 0 0 root root\n", action: resource.Update,
			changes: []resource.Change{{Field: "owner", Old: "root", New: "nobody"}}, priv: &Private{Chown: "nobody"},
		},
		{
			name: "group only, unnamed", vals: map[string]cty.Value{"group": str("staff")},
			out: "type=directory\nstat=755 0 4242 root UNKNOWN\n", action: resource.Update,
			changes: []resource.Change{{Field: "group", Old: "4242", New: "staff"}}, priv: &Private{Chown: ":staff"},
		},
		{name: "link to directory counts", vals: map[string]cty.Value{"mode": str("0755")}, out: "link=1\ntype=directory\nstat=755 0 0 root root\n", action: resource.NoOp},
		{name: "a file is in the way", out: "type=other\n", err: "not a directory"},
		{name: "dangling link", out: "link=1\ntype=none\n", err: "symbolic link"},
		{name: "probe failed", out: "", exit: 2, err: "exit status 2"},
		{name: "empty output", out: "", err: "malformed"},
		{name: "no stat", out: "type=directory\n", err: "no metadata"},
		{name: "bad stat", out: "type=directory\nstat=755 0 root root\n", err: "malformed"},
		{name: "bad mode", out: "type=directory\nstat=x 0 0 root root\n", err: "malformed mode"},
		{name: "unknown key", out: "type=directory\nwho=me\n", err: "unexpected"},

		{name: "absent: nothing", vals: map[string]cty.Value{"state": str("absent")}, out: "type=none\n", action: resource.NoOp},
		{
			name: "absent: empty", vals: map[string]cty.Value{"state": str("absent")}, out: "type=directory\nempty=1\n",
			action: resource.Delete, changes: []resource.Change{{Field: "state", Old: "present", New: "absent"}},
			priv: &Private{Remove: removeEmpty},
		},
		{name: "absent: not empty", vals: map[string]cty.Value{"state": str("absent")}, out: "type=directory\nempty=0\n", err: "force = true"},
		{
			name: "absent: not empty, forced", vals: map[string]cty.Value{"state": str("absent"), "force": cty.True}, out: "type=directory\nempty=0\n",
			action: resource.Delete, priv: &Private{Remove: removeAll},
		},
		{
			name: "absent: a link", vals: map[string]cty.Value{"state": str("absent")}, out: "link=1\ntype=directory\n",
			action: resource.Delete, priv: &Private{Remove: removeLink},
		},
		{name: "absent: a file", vals: map[string]cty.Value{"state": str("absent")}, out: "type=other\n", err: "not a directory"},
		{name: "absent: no emptiness", vals: map[string]cty.Value{"state": str("absent")}, out: "type=directory\n", err: "malformed"},
		{name: "absent: bad emptiness", vals: map[string]cty.Value{"state": str("absent")}, out: "type=directory\nempty=yes\n", err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.vals == nil {
				tt.vals = map[string]cty.Value{}
			}
			tt.vals["path"] = str("/srv/data")
			r := newDir(t, tt.vals)
			d, err := r.Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v", d.Action, tt.action)
			}
			if tt.changes != nil && fmt.Sprint(d.Changes) != fmt.Sprint(tt.changes) {
				t.Errorf("changes\n got %+v\nwant %+v", d.Changes, tt.changes)
			}
			if tt.priv != nil && fmt.Sprint(d.Private) != fmt.Sprint(tt.priv) {
				t.Errorf("private %+v, want %+v", d.Private, tt.priv)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	base := t.TempDir()
	p := filepath.Join(base, "a", "b", "c")
	d := converge(t, newDir(t, map[string]cty.Value{"path": str(p)}))
	if d.Action != resource.Create {
		t.Fatal(d.Action)
	}
	checkDir(t, p, 0o755, 0, 0)
	checkDir(t, filepath.Join(base, "a"), 0o755, 0, 0)

	d = converge(t, newDir(t, map[string]cty.Value{"path": str(p), "mode": str("2770"), "owner": str("nobody"), "group": str("nogroup")}))
	if d.Action != resource.Update || len(d.Changes) != 3 {
		t.Fatalf("%+v", d)
	}
	checkDir(t, p, 0o2770, 65534, 65534)

	// a 4-digit mode without setgid clears it (GNU chmod keeps it otherwise)
	converge(t, newDir(t, map[string]cty.Value{"path": str(p), "mode": str("0750")}))
	checkDir(t, p, 0o750, 65534, 65534)

	// owner by number
	converge(t, newDir(t, map[string]cty.Value{"path": str(p), "owner": str("0"), "group": str("0")}))
	checkDir(t, p, 0o750, 0, 0)

	converge(t, newDir(t, map[string]cty.Value{"path": str(p), "state": str("absent")}))
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("still there: %v", err)
	}
}

func TestCreateWithOwnerAndSticky(t *testing.T) {
	p := filepath.Join(t.TempDir(), "spool")
	converge(t, newDir(t, map[string]cty.Value{"path": str(p), "mode": str("1777"), "owner": str("nobody")}))
	checkDir(t, p, 0o1777, 65534, 0)
}

func TestNoParents(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing", "x")
	r := newDir(t, map[string]cty.Value{"path": str(p), "parents": cty.False})
	d := plan(t, r)
	err := r.Apply(context.Background(), transport.NewLocal(), d)
	if err == nil || !strings.Contains(err.Error(), "parents = true") {
		t.Fatalf("want a parent error, got %v", err)
	}
	must(t, os.Mkdir(filepath.Dir(p), 0o755))
	converge(t, r)
	checkDir(t, p, 0o755, 0, 0)
}

func TestFailedChownLeavesNoWorldReadableDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "private")
	r := newDir(t, map[string]cty.Value{"path": str(p), "owner": str("no-such-user-pinery"), "mode": str("0700")})
	err := r.Apply(context.Background(), transport.NewLocal(), plan(t, r))
	if err == nil || !strings.Contains(err.Error(), "no-such-user-pinery") {
		t.Fatalf("want an error naming the user, got %v", err)
	}
	checkDir(t, p, 0o700, 0, 0)
}

func TestAbsentNonEmpty(t *testing.T) {
	base := t.TempDir()
	p := filepath.Join(base, "data")
	for _, entry := range []string{"file", ".hidden", "..dots", "-rf"} {
		t.Run(entry, func(t *testing.T) {
			must(t, os.MkdirAll(p, 0o755))
			must(t, os.WriteFile(filepath.Join(p, entry), []byte("x"), 0o644))
			r := newDir(t, map[string]cty.Value{"path": str(p), "state": str("absent")})
			if _, err := r.Plan(runProbe(t, r)); err == nil || !strings.Contains(err.Error(), "force = true") {
				t.Fatalf("want a not-empty error, got %v", err)
			}
			converge(t, newDir(t, map[string]cty.Value{"path": str(p), "state": str("absent"), "force": cty.True}))
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Fatalf("still there: %v", err)
			}
		})
	}
	// a dangling link inside also counts as content
	must(t, os.MkdirAll(p, 0o755))
	must(t, os.Symlink("/nonexistent", filepath.Join(p, "dangling")))
	r := newDir(t, map[string]cty.Value{"path": str(p), "state": str("absent")})
	if _, err := r.Plan(runProbe(t, r)); err == nil {
		t.Fatal("a directory with a dangling link was taken for empty")
	}
}

func TestAbsentLinkKeepsTarget(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "target")
	must(t, os.MkdirAll(filepath.Join(target, "sub"), 0o755))
	link := filepath.Join(base, "link")
	must(t, os.Symlink(target, link))
	converge(t, newDir(t, map[string]cty.Value{"path": str(link), "state": str("absent")}))
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatal("link still there")
	}
	if _, err := os.Stat(filepath.Join(target, "sub")); err != nil {
		t.Fatal("the link's target was touched")
	}
}

func TestFileInTheWay(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(p, nil, 0o644))
	for _, st := range []string{"present", "absent"} {
		r := newDir(t, map[string]cty.Value{"path": str(p), "state": str(st)})
		if _, err := r.Plan(runProbe(t, r)); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("%s: got %v", st, err)
		}
	}
}

func TestHostilePaths(t *testing.T) {
	base := t.TempDir()
	for _, n := range []string{"with space", "it's", `"dq"`, "$(touch PWNED)", "`touch PWNED`", "new\nline", "-rf", "*", "trailing\n"} {
		t.Run(fmt.Sprintf("%q", n), func(t *testing.T) {
			p := filepath.Join(base, n, n)
			converge(t, newDir(t, map[string]cty.Value{"path": str(p), "mode": str("0701")}))
			checkDir(t, p, 0o701, 0, 0)
			must(t, os.WriteFile(filepath.Join(p, n), []byte("x"), 0o644))
			converge(t, newDir(t, map[string]cty.Value{"path": str(filepath.Join(base, n)), "state": str("absent"), "force": cty.True}))
			if _, err := os.Lstat(filepath.Join(base, n)); !os.IsNotExist(err) {
				t.Fatal("still there")
			}
		})
	}
	if _, err := os.Stat("PWNED"); err == nil {
		t.Fatal("a command in a name was run")
	}
	entries, err := os.ReadDir(base)
	must(t, err)
	if len(entries) != 0 {
		t.Fatalf("left over: %v", entries)
	}
}

func checkDir(t *testing.T, p string, mode uint32, uid, gid int) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		t.Fatalf("%s is not a directory", p)
	}
	if st.Mode&0o7777 != mode {
		t.Errorf("%s: mode %o, want %o", p, st.Mode&0o7777, mode)
	}
	if int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: owner %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The engine's batch script may run with options set; the snippet runs in
// a subshell that inherits them.
func TestProbeUnderSetEF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d")
	must(t, os.MkdirAll(p, 0o755))
	must(t, os.WriteFile(filepath.Join(p, ".x"), nil, 0o644))
	for _, st := range []string{"present", "absent"} {
		r := newDir(t, map[string]cty.Value{"path": str(p), "state": str(st)})
		res, err := transport.NewLocal().Run(context.Background(), "set -ef\n( "+r.Probe()+"\n) </dev/null", nil)
		must(t, err)
		if len(res.Stderr) > 0 || res.ExitCode != 0 {
			t.Fatalf("%s: exit %d: %s", st, res.ExitCode, res.Stderr)
		}
		_, err = r.Plan(resource.ProbeResult{Stdout: res.Stdout})
		if st == "present" && err != nil {
			t.Errorf("present: %v", err)
		}
		if st == "absent" && (err == nil || !strings.Contains(err.Error(), "not empty")) {
			t.Errorf("absent: want not empty, got %v", err)
		}
	}
}

// ApplyAll creates, re-modes and removes several directories in one
// session; one that fails (its parent is missing) fails alone.
func TestApplyAllOneSession(t *testing.T) {
	base := t.TempDir()
	p := func(n string) string { return filepath.Join(base, n) }
	if err := os.Mkdir(p("remode"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p("gone"), 0o755); err != nil {
		t.Fatal(err)
	}
	dirs := []*Directory{
		newDir(t, map[string]cty.Value{"path": str(p("a"))}),
		newDir(t, map[string]cty.Value{"path": str(p("missing/b")), "parents": cty.False}),
		newDir(t, map[string]cty.Value{"path": str(p("remode")), "mode": str("0750")}),
		newDir(t, map[string]cty.Value{"path": str(p("gone")), "state": str("absent")}),
		newDir(t, map[string]cty.Value{"path": str(p("deep/er/c"))}),
	}
	rs := make([]resource.Resource, len(dirs))
	ds := make([]*resource.Diff, len(dirs))
	for i, d := range dirs {
		rs[i], ds[i] = d, plan(t, d)
	}
	local := transport.NewLocal()
	err := dirs[0].ApplyAll(context.Background(), local, rs, ds)
	var each resource.Errors
	if !errors.As(err, &each) || len(each) != len(dirs) {
		t.Fatalf("ApplyAll = %v, want per-directory errors", err)
	}
	for i, d := range dirs {
		if i == 1 {
			if each[i] == nil || !strings.Contains(each[i].Error(), "parent") {
				t.Errorf("%s: %v, want its parent missing", d.path, each[i])
			}
			continue
		}
		if each[i] != nil {
			t.Errorf("%s: %v", d.path, each[i])
		}
		if diff := plan(t, d); !diff.Empty() {
			t.Errorf("%s: not converged: %+v", d.path, diff.Changes)
		}
	}
	if local.Sessions() != 1 {
		t.Errorf("%d sessions, want 1", local.Sessions())
	}
}
