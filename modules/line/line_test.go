package line

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"relative", map[string]cty.Value{"path": str("etc/x"), "line": str("a")}, "path", "absolute"},
		{"empty path", map[string]cty.Value{"path": str(""), "line": str("a")}, "path", "empty"},
		{"root", map[string]cty.Value{"path": str("/"), "line": str("a")}, "path", "not /"},
		{"unclean", map[string]cty.Value{"path": str("/etc/x/"), "line": str("a")}, "path", `"/etc/x"`},
		{"state", map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "state": str("gone")}, "state", `"present" or "absent"`},
		{"no line", map[string]cty.Value{"path": str("/etc/x"), "match": str("^a")}, "line", "required"},
		{"two lines", map[string]cty.Value{"path": str("/etc/x"), "line": str("a\nb")}, "line", "one line"},
		{"CR", map[string]cty.Value{"path": str("/etc/x"), "line": str("a\r")}, "line", "one line"},
		{"NUL", map[string]cty.Value{"path": str("/etc/x"), "line": str("a\x00")}, "line", "NUL"},
		{"unknown line", map[string]cty.Value{"path": str("/etc/x"), "line": cty.UnknownVal(cty.String)}, "line", "not known"},
		{"bad match", map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "match": str("a(")}, "match", "missing closing )"},
		{"backreference", map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "match": str(`(a)\1`)}, "match", "back-references"},
		{"empty match", map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "match": str("")}, "match", "every line"},
		{"bad insert_after", map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "insert_after": str("[")}, "insert_after", "missing closing ]"},
		{"absent with nothing", map[string]cty.Value{"path": str("/etc/x"), "state": str("absent")}, "match", "set match or line"},
		{"absent with insert_after", map[string]cty.Value{"path": str("/etc/x"), "state": str("absent"), "line": str("a"), "insert_after": str("^b")}, "insert_after", "no effect"},
		{"absent with create", map[string]cty.Value{"path": str("/etc/x"), "state": str("absent"), "line": str("a"), "create": cty.True}, "create", "no effect"},
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
	// ERE classes work in RE2 too.
	if _, err := New(config(t, map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "match": str(`^[[:space:]]*#?[[:alpha:]]+\s`)})); err != nil {
		t.Fatal(err)
	}
	// A sensitive line is never quoted in an error.
	_, err := New(config(t, map[string]cty.Value{"path": str("/etc/x"), "line": str("hunter2\n")}, "line"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error quotes the line: %v", err)
	}
}

func fileOut(content string) string {
	return "type=file\nbase64=\n" + base64.StdEncoding.EncodeToString([]byte(content)) + "\n"
}

func TestPlanTable(t *testing.T) {
	const conf = "a=1\nb=1\n"
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		exit    int
		action  resource.Action
		changes []resource.Change
		diff    string // a substring of the text diff; "-" for none
		priv    *Private
		err     string
	}{
		{name: "converged", out: fileOut("a=1\nb=2\n"), action: resource.NoOp},
		{name: "replace", out: fileOut(conf), action: resource.Update,
			changes: []resource.Change{{Field: "line", Old: "b=1", New: "b=2"}},
			diff:    "--- /etc/app.conf\n+++ /etc/app.conf\n@@ -1,2 +1,2 @@\n a=1\n-b=1\n+b=2\n",
			priv:    &Private{Path: "/etc/app.conf", Exists: true, OldSum: sum([]byte(conf)), NewSum: sum([]byte("a=1\nb=2\n"))}},
		{name: "append", out: fileOut("a=1\n"), action: resource.Update,
			changes: []resource.Change{{Field: "line", New: "b=2"}}, diff: "+b=2"},
		{name: "append to a file without newline", out: fileOut("a=1"), action: resource.Update,
			diff: "-a=1\n\\ No newline at end of file\n+a=1\n+b=2\n"},
		{name: "empty file", out: fileOut(""), action: resource.Update, diff: "+b=2"},
		{name: "missing, create", vals: map[string]cty.Value{"create": cty.True}, out: "type=none\n", action: resource.Create,
			changes: []resource.Change{{Field: "line", New: "b=2"}}, diff: "--- /dev/null\n+++ /etc/app.conf\n",
			priv: &Private{Path: "/etc/app.conf", NewSum: sum([]byte("b=2\n"))}},
		{name: "missing, no create: known after apply", out: "type=none\n", action: resource.Update, diff: "-",
			priv: &Private{Path: "/etc/app.conf", Deferred: true}},
		{name: "link is followed", out: "link=1\nreal=/etc/alternatives/app.conf\n" + fileOut(conf), action: resource.Update,
			diff: "--- /etc/app.conf\n", priv: &Private{Path: "/etc/alternatives/app.conf", Link: true, Exists: true,
				OldSum: sum([]byte(conf)), NewSum: sum([]byte("a=1\nb=2\n"))}},
		{name: "dangling link, create", vals: map[string]cty.Value{"create": cty.True}, out: "link=1\nreal=/etc/gone\ntype=none\n", err: "does not exist"},
		{name: "too big", out: "type=file\nsize=2000000\n", err: "more than the 1048576"},
		{name: "binary content: no diff", out: fileOut("a=1\n\x00\n"), action: resource.Update, diff: "-"},
		{name: "directory", out: "type=directory\n", err: "is a directory"},
		{name: "fifo", out: "type=other\n", err: "not a regular file"},
		{name: "unreadable", out: "type=file\nbase64=\n\nerror=read\n", exit: 1, err: "cannot read it"},
		{name: "loop", out: "link=1\nerror=readlink\n", exit: 1, err: "cannot resolve"},
		{name: "failed", out: "", exit: 2, err: "exit status 2"},
		{name: "no content", out: "type=file\n", err: "no content"},
		{name: "bad base64", out: "type=file\nbase64=\n!!\n", err: "malformed content"},
		{name: "bad type", out: "type=pipe\n", err: "file type"},
		{name: "unknown key", out: "type=none\nx=1\n", err: "unexpected"},
		{name: "relative real", out: "link=1\nreal=x\ntype=none\n", err: "link target"},

		{name: "absent", vals: map[string]cty.Value{"state": str("absent")}, out: fileOut("b=2\nc\nb=2\n"), action: resource.Delete,
			changes: []resource.Change{{Field: "lines", Old: "2 matching lines", New: "removed"}}, diff: "-b=2\n c\n-b=2\n"},
		{name: "absent, missing file", vals: map[string]cty.Value{"state": str("absent")}, out: "type=none\n", action: resource.NoOp},
		{name: "absent, converged", vals: map[string]cty.Value{"state": str("absent")}, out: fileOut("a=1\n"), action: resource.NoOp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]cty.Value{"path": str("/etc/app.conf"), "line": str("b=2"), "match": str("^b=")}
			for k, v := range tt.vals {
				vals[k] = v
			}
			d, err := newLine(t, vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
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
			switch {
			case tt.diff == "-" && d.TextDiff != "":
				t.Errorf("want no diff, got\n%s", d.TextDiff)
			case tt.diff != "-" && !strings.Contains(d.TextDiff, tt.diff):
				t.Errorf("diff\n%s\nlacks\n%s", d.TextDiff, tt.diff)
			}
			if tt.priv != nil {
				got := *d.Private.(*Private)
				got.content = nil
				if fmt.Sprint(got) != fmt.Sprint(*tt.priv) {
					t.Errorf("private\n got %+v\nwant %+v", got, *tt.priv)
				}
			}
		})
	}
}

func TestPlanSensitive(t *testing.T) {
	for _, how := range []string{"field", "marked"} {
		t.Run(how, func(t *testing.T) {
			vals := map[string]cty.Value{"path": str("/etc/app.conf"), "line": str("password=hunter3"), "match": str("^password=")}
			var marked []string
			if how == "field" {
				vals["sensitive"] = cty.True
			} else {
				marked = []string{"line"}
			}
			r := newLine(t, vals, marked...)
			for _, out := range []string{fileOut("user=a\npassword=hunter2\n"), fileOut("user=a\n"), "type=none\n"} {
				d, err := r.Plan(resource.ProbeResult{Stdout: []byte(out)})
				if err != nil {
					t.Fatal(err)
				}
				if d.TextDiff != "" {
					t.Errorf("a diff is shown:\n%s", d.TextDiff)
				}
				for _, c := range d.Changes {
					if strings.Contains(c.Old+c.New, "hunter") || (!c.Sensitive && !d.Private.(*Private).Deferred) {
						t.Errorf("change shows the line: %+v", c)
					}
				}
			}
		})
	}
}

// The tests below run on a real fleet host (skipped without one).

func TestFleetEdits(t *testing.T) {
	h, dir := host(t)
	p := dir + "/sshd_config"
	put(t, h, p, "#Port 22\n#PermitRootLogin prohibit-password\nPasswordAuthentication yes\n")
	run(t, h, "chown nobody:nogroup "+q(p)+" && chmod 0640 "+q(p))

	d := converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "line": str("PermitRootLogin no"), "match": str(`^#?PermitRootLogin[[:space:]]`)}))
	if d.Action != resource.Update || d.Changes[0].Old != "#PermitRootLogin prohibit-password" || !strings.Contains(d.TextDiff, "+PermitRootLogin no\n") {
		t.Fatalf("replace: %+v\n%s", d, d.TextDiff)
	}
	converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "line": str("Port 2222"), "match": str(`^#?Port `)}))
	converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "line": str("UseDNS no")}))
	converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "line": str("# managed: Port"), "insert_after": str(`^Port\s`)}))
	d = converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "match": str(`^PasswordAuth`), "state": str("absent")}))
	if d.Action != resource.Delete {
		t.Fatalf("absent: %+v", d)
	}
	want := "Port 2222\n# managed: Port\nPermitRootLogin no\nUseDNS no\n"
	if got := get(t, h, p); got != want {
		t.Fatalf("content\n got %q\nwant %q", got, want)
	}
	// the new inode has the old one's owner and mode
	if got := run(t, h, "stat -c '%U:%G %a' -- "+q(p)); got != "nobody:nogroup 640\n" {
		t.Fatalf("metadata: %s", got)
	}
	if l := leftovers(t, h, dir); l != "" {
		t.Fatalf("temporary files left: %s", l)
	}
}

func TestFleetLineBreaks(t *testing.T) {
	h, dir := host(t)
	p := dir + "/win.ini"
	put(t, h, p, "[main]\r\nkey=1\r\nlast=1")
	converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "line": str("key=2"), "match": str("^key=")}))
	converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "line": str("new=1"), "insert_after": str(`^\[main\]$`)}))
	converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "line": str("end=1")}))
	if got, want := get(t, h, p), "[main]\r\nnew=1\r\nkey=2\r\nlast=1\r\nend=1\r\n"; got != want {
		t.Fatalf("content\n got %q\nwant %q", got, want)
	}
}

func TestFleetCreate(t *testing.T) {
	h, dir := host(t)
	p := dir + "/new.conf"
	d := converge(t, h, newLine(t, map[string]cty.Value{"path": str(p), "line": str("a=1"), "create": cty.True}))
	if d.Action != resource.Create {
		t.Fatalf("%+v", d)
	}
	if got := run(t, h, "stat -c '%U %a' -- "+q(p)+" && cat -- "+q(p)); got != "root 644\na=1\n" {
		t.Fatalf("created: %q", got)
	}
	s := dir + "/secret.conf"
	converge(t, h, newLine(t, map[string]cty.Value{"path": str(s), "line": str("token=x"), "create": cty.True, "sensitive": cty.True}))
	if got := run(t, h, "stat -c '%a' -- "+q(s)); got != "600\n" {
		t.Fatalf("a sensitive new file is mode %s", got)
	}

	// Without create, a missing file is decided at apply: still missing
	// is an error, created meanwhile (by a package) is edited.
	m := dir + "/later.conf"
	r := newLine(t, map[string]cty.Value{"path": str(m), "line": str("b=2"), "match": str("^b=")})
	d = plan(t, h, r)
	if d.Action != resource.Update || !strings.Contains(d.Changes[0].New, "known after apply") {
		t.Fatalf("deferred plan: %+v", d)
	}
	if err := r.Apply(context.Background(), h, d); err == nil || !strings.Contains(err.Error(), "set create = true") {
		t.Fatalf("want a missing file error, got %v", err)
	}
	put(t, h, m, "a=1\nb=1\n")
	if err := r.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	if got := get(t, h, m); got != "a=1\nb=2\n" {
		t.Fatalf("deferred edit: %q", got)
	}
	if again := plan(t, h, r); !again.Empty() {
		t.Fatalf("not converged: %+v", again)
	}
	// missing directory
	r = newLine(t, map[string]cty.Value{"path": str(dir + "/no/x"), "line": str("a"), "create": cty.True})
	if err := r.Apply(context.Background(), h, plan(t, h, r)); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("want a missing directory error, got %v", err)
	}
}

func TestFleetChangedSincePlan(t *testing.T) {
	h, dir := host(t)
	p := dir + "/app.conf"
	put(t, h, p, "a=1\n")
	r := newLine(t, map[string]cty.Value{"path": str(p), "line": str("a=2"), "match": str("^a=")})
	d := plan(t, h, r)
	put(t, h, p, "a=1\nb=1\n") // someone else's edit
	err := r.Apply(context.Background(), h, d)
	if err == nil || !strings.Contains(err.Error(), "changed since the plan; plan again") {
		t.Fatalf("want a drift error, got %v", err)
	}
	if got := get(t, h, p); got != "a=1\nb=1\n" {
		t.Fatalf("file overwritten: %q", got)
	}
	if l := leftovers(t, h, dir); l != "" {
		t.Fatalf("temporary files left: %s", l)
	}
	// A plan without the new content (as a saved plan would be) is
	// recomputed at apply, and applies to the same file only.
	d = plan(t, h, r)
	d.Private.(*Private).content = nil
	if err := r.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	if got := get(t, h, p); got != "a=2\nb=1\n" {
		t.Fatalf("content %q", got)
	}
}

func TestFleetFollowsLink(t *testing.T) {
	h, dir := host(t)
	run(t, h, "mkdir -- "+q(dir+"/real")+" && printf 'a=1\\n' >"+q(dir+"/real/app.conf")+" && ln -s real/app.conf "+q(dir+"/app.conf"))
	converge(t, h, newLine(t, map[string]cty.Value{"path": str(dir + "/app.conf"), "line": str("a=2"), "match": str("^a=")}))
	if got := run(t, h, "readlink -- "+q(dir+"/app.conf")+" && cat -- "+q(dir+"/real/app.conf")); got != "real/app.conf\na=2\n" {
		t.Fatalf("link or target: %q", got)
	}
}

func TestFleetTooBig(t *testing.T) {
	h, dir := host(t)
	p := dir + "/big"
	run(t, h, "head -c 1048577 /dev/zero | tr '\\0' 'x' >"+q(p))
	r := newLine(t, map[string]cty.Value{"path": str(p), "line": str("a")})
	if _, err := r.Plan(runProbe(t, h, r)); err == nil || !strings.Contains(err.Error(), "file resource") {
		t.Fatalf("want a size error, got %v", err)
	}
}

// Two line resources of one file, both planned before either is applied:
// the second finds the file changed by the first, which is this run's own
// edit, and edits the file as it now is. Someone else's edit in between is
// still refused (TestFleetChangedSincePlan).
func TestFleetTwoLinesOneFile(t *testing.T) {
	h, dir := host(t)
	for _, create := range []bool{false, true} {
		p := dir + fmt.Sprintf("/two-%t.conf", create)
		if !create {
			put(t, h, p, "a=1\nb=1\n")
		}
		a := newLine(t, map[string]cty.Value{"path": str(p), "line": str("a=2"), "match": str("^a="), "create": cty.BoolVal(create)})
		b := newLine(t, map[string]cty.Value{"path": str(p), "line": str("b=2"), "match": str("^b="), "create": cty.BoolVal(create)})
		da, db := plan(t, h, a), plan(t, h, b)
		if err := a.Apply(context.Background(), h, da); err != nil {
			t.Fatal(err)
		}
		if err := b.Apply(context.Background(), h, db); err != nil {
			t.Fatalf("create=%t: the second line of the same file: %v", create, err)
		}
		want := "a=2\nb=2\n"
		if create {
			want = "a=2\nb=2\n"
		}
		if got := get(t, h, p); got != want {
			t.Fatalf("create=%t: content %q, want %q", create, got, want)
		}
		if d := plan(t, h, b); !d.Empty() {
			t.Fatalf("second plan not empty: %+v", d)
		}
	}
	if l := leftovers(t, h, dir); l != "" {
		t.Fatalf("temporary files left: %s", l)
	}
}
