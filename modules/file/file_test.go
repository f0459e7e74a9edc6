package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	base := t.TempDir()
	if err := os.WriteFile(filepath.Join(base, "bad.tpl"), []byte("${nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "ok.tpl"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"relative path", map[string]cty.Value{"path": str("etc/motd"), "content": str("x")}, "path", "absolute"},
		{"empty path", map[string]cty.Value{"path": str(""), "content": str("x")}, "path", "empty"},
		{"root", map[string]cty.Value{"path": str("/"), "content": str("x")}, "path", "not /"},
		{"trailing slash", map[string]cty.Value{"path": str("/etc/motd/"), "content": str("x")}, "path", `"/etc/motd"`},
		{"dot dot", map[string]cty.Value{"path": str("/etc/../motd"), "content": str("x")}, "path", "clean"},
		{"nul", map[string]cty.Value{"path": str("/etc/a\x00b"), "content": str("x")}, "path", "NUL"},
		{"no content", map[string]cty.Value{"path": str("/etc/motd")}, "content", "exactly one of content, source or template"},
		{"two contents", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "source": str("ok.tpl")}, "source", "not both content and source"},
		{"bad state", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "state": str("gone")}, "state", `"present" or "absent"`},
		{"symbolic mode", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "mode": str("u+rw")}, "mode", "octal"},
		{"mode 9", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "mode": str("0649")}, "mode", "octal"},
		{"mode too long", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "mode": str("00644")}, "mode", "octal"},
		{"owner colon", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "owner": str("root:root")}, "owner", "':'"},
		{"owner dash", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "owner": str("-R")}, "owner", "start"},
		{"group space", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "group": str("a b")}, "group", "' '"},
		{"vars without template", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "vars": cty.ObjectVal(map[string]cty.Value{"a": str("b")})}, "vars", "only used with template"},
		{"vars not object", map[string]cty.Value{"path": str("/etc/motd"), "template": str("ok.tpl"), "vars": str("b")}, "vars", "object"},
		{"missing source", map[string]cty.Value{"path": str("/etc/motd"), "source": str("files/nope")}, "source", filepath.Join(base, "files/nope")},
		{"missing template", map[string]cty.Value{"path": str("/etc/motd"), "template": str("nope.tpl")}, "template", "nope.tpl"},
		{"template syntax", map[string]cty.Value{"path": str("/etc/motd"), "template": str("bad.tpl")}, "template", "bad.tpl:1"},
		{"content with absent", map[string]cty.Value{"path": str("/etc/motd"), "content": str("x"), "state": str("absent")}, "content", "no effect"},
		{"mode with absent", map[string]cty.Value{"path": str("/etc/motd"), "mode": str("0644"), "state": str("absent")}, "mode", "no effect"},
		{"unknown content", map[string]cty.Value{"path": str("/etc/motd"), "content": cty.UnknownVal(cty.String)}, "content", "not known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, base, tt.vals))
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

func TestNewValid(t *testing.T) {
	for _, vals := range []map[string]cty.Value{
		{"path": str("/etc/motd"), "content": str("")},
		{"path": str("/etc/motd"), "content": str("x"), "mode": str("644"), "owner": str("1000"), "group": str("www-data")},
		{"path": str("/etc/motd"), "state": str("absent")},
		{"path": str("/a b/$(x)/`y`/'q'\n/-rf"), "content": str("x"), "mode": str("4755")},
	} {
		if _, err := New(config(t, t.TempDir(), vals)); err != nil {
			t.Errorf("%v: %v", vals, err)
		}
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestPlanTable(t *testing.T) {
	const path = "/etc/motd"
	hello := "hello\n"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name      string
		vals      map[string]cty.Value
		sensitive []string
		out       string
		exit      int
		action    resource.Action
		changes   []resource.Change
		textDiff  string // substring; "-" for none
		priv      *Private
		err       string
	}{
		{
			name:     "absent file is created with 0644",
			vals:     map[string]cty.Value{"content": str(hello)},
			out:      "type=none\n",
			action:   resource.Create,
			changes:  []resource.Change{{Field: "content", New: "6 bytes, sha256 " + sum(hello)[:12]}, {Field: "mode", New: "0644"}},
			textDiff: "--- /dev/null\n+++ /etc/motd\n@@ -0,0 +1 @@\n+hello\n",
			priv:     &Private{Write: true, Mode: "0644"},
		},
		{
			name:    "create with owner and mode",
			vals:    map[string]cty.Value{"content": str(hello), "mode": str("600"), "owner": str("alice"), "group": str("100")},
			out:     "type=none\n",
			action:  resource.Create,
			changes: []resource.Change{{Field: "content", New: "6 bytes, sha256 " + sum(hello)[:12]}, {Field: "mode", New: "0600"}, {Field: "owner", New: "alice"}, {Field: "group", New: "100"}},
			priv:    &Private{Write: true, Mode: "0600", Chown: "alice:+100"},
		},
		{
			name:   "converged",
			vals:   map[string]cty.Value{"content": str(hello), "mode": str("0644"), "owner": str("root"), "group": str("0")},
			out:    "type=file\nstat=644 0 0 6 root root\nsha256=" + sum(hello) + "\n",
			action: resource.NoOp,
		},
		{
			name:   "unset metadata is not compared",
			vals:   map[string]cty.Value{"content": str(hello)},
			out:    "type=file\nstat=4755 1000 1000 6 alice alice\nsha256=" + sum(hello) + "\n",
			action: resource.NoOp,
		},
		{
			name:     "content differs: diff, metadata carried over",
			vals:     map[string]cty.Value{"content": str("hello\nworld\n")},
			out:      "type=file\nstat=640 1000 33 6 alice www-data\nsha256=" + sum(hello) + "\nbase64=\n" + b64(hello) + "\n",
			action:   resource.Update,
			changes:  []resource.Change{{Field: "content", Old: "6 bytes, sha256 " + sum(hello)[:12], New: "12 bytes, sha256 " + sum("hello\nworld\n")[:12]}},
			textDiff: "--- /etc/motd\n+++ /etc/motd\n@@ -1 +1,2 @@\n hello\n+world\n",
			priv:     &Private{Write: true, Mode: "0640", Chown: "+1000:+33"},
		},
		{
			name:     "no trailing newline",
			vals:     map[string]cty.Value{"content": str("hello")},
			out:      "type=file\nstat=644 0 0 6 root root\nsha256=" + sum(hello) + "\nbase64=\n" + b64(hello) + "\n",
			action:   resource.Update,
			textDiff: "\\ No newline at end of file",
			priv:     &Private{Write: true, Mode: "0644"},
		},
		{
			name:     "too big to fetch: no text diff",
			vals:     map[string]cty.Value{"content": str(hello)},
			out:      "type=file\nstat=644 0 0 300000 root root\nsha256=" + sum("x") + "\n",
			action:   resource.Update,
			changes:  []resource.Change{{Field: "content", Old: "300000 bytes, sha256 " + sum("x")[:12], New: "6 bytes, sha256 " + sum(hello)[:12]}},
			textDiff: "-",
			priv:     &Private{Write: true, Mode: "0644"},
		},
		{
			name:     "binary current content: no text diff",
			vals:     map[string]cty.Value{"content": str(hello)},
			out:      "type=file\nstat=644 0 0 3 root root\nsha256=" + sum("a\x00b") + "\nbase64=\n" + b64("a\x00b") + "\n",
			action:   resource.Update,
			textDiff: "-",
			priv:     &Private{Write: true, Mode: "0644"},
		},
		{
			name:      "sensitive: no values, no diff, no checksum",
			vals:      map[string]cty.Value{"content": str("s3cret\n")},
			sensitive: []string{"content"},
			out:       "type=file\nstat=600 0 0 6 root root\nsha256=" + sum(hello) + "\n",
			action:    resource.Update,
			changes:   []resource.Change{{Field: "content", Sensitive: true}},
			textDiff:  "-",
			priv:      &Private{Write: true, Mode: "0600"},
		},
		{
			name:     "sensitive = true hides a create, and makes the new file private",
			vals:     map[string]cty.Value{"content": str("key"), "sensitive": cty.True},
			out:      "type=none\n",
			action:   resource.Create,
			changes:  []resource.Change{{Field: "content", Sensitive: true}, {Field: "mode", New: "0600"}},
			textDiff: "-",
			priv:     &Private{Write: true, Mode: "0600"},
		},
		{
			name:    "mode only: no rewrite",
			vals:    map[string]cty.Value{"content": str(hello), "mode": str("0600")},
			out:     "type=file\nstat=644 0 0 6 root root\nsha256=" + sum(hello) + "\n",
			action:  resource.Update,
			changes: []resource.Change{{Field: "mode", Old: "0644", New: "0600"}},
			priv:    &Private{Mode: "0600"},
		},
		{
			name:    "owner by name and group by id",
			vals:    map[string]cty.Value{"content": str(hello), "owner": str("nobody"), "group": str("65534")},
			out:     "type=file\nstat=644 0 0 6 root root\nsha256=" + sum(hello) + "\n",
			action:  resource.Update,
			changes: []resource.Change{{Field: "owner", Old: "root", New: "nobody"}, {Field: "group", Old: "root", New: "65534"}},
			priv:    &Private{Chown: "nobody:+65534"},
		},
		{
			name:    "owner without a name shows the uid",
			vals:    map[string]cty.Value{"content": str(hello), "owner": str("root")},
			out:     "type=file\nstat=644 4242 0 6 UNKNOWN root\nsha256=" + sum(hello) + "\n",
			action:  resource.Update,
			changes: []resource.Change{{Field: "owner", Old: "4242", New: "root"}},
			priv:    &Private{Chown: "root"},
		},
		{
			name:   "numeric owner matches uid",
			vals:   map[string]cty.Value{"content": str(hello), "owner": str("4242")},
			out:    "type=file\nstat=644 4242 0 6 UNKNOWN root\nsha256=" + sum(hello) + "\n",
			action: resource.NoOp,
		},
		{
			name:     "symlink to a file is replaced",
			vals:     map[string]cty.Value{"content": str(hello)},
			out:      "link=1\ntype=file\nstat=644 0 0 6 root root\nsha256=" + sum(hello) + "\n",
			action:   resource.Update,
			changes:  []resource.Change{{Field: "type", Old: "symlink", New: "file"}, {Field: "mode", New: "0644"}},
			textDiff: "-",
			priv:     &Private{Write: true, Mode: "0644"},
		},
		{
			name:    "dangling symlink is replaced",
			vals:    map[string]cty.Value{"content": str(hello)},
			out:     "link=1\ntype=none\n",
			action:  resource.Update,
			changes: []resource.Change{{Field: "type", Old: "symlink", New: "file"}, {Field: "content", New: "6 bytes, sha256 " + sum(hello)[:12]}, {Field: "mode", New: "0644"}},
			priv:    &Private{Write: true, Mode: "0644"},
		},
		{name: "directory", vals: map[string]cty.Value{"content": str(hello)}, out: "type=directory\n", err: "is a directory"},
		{name: "symlink to directory", vals: map[string]cty.Value{"content": str(hello)}, out: "link=1\ntype=directory\n", err: "is a directory"},
		{name: "fifo", vals: map[string]cty.Value{"content": str(hello)}, out: "type=other\n", err: "not a regular file"},
		{name: "probe failed", vals: map[string]cty.Value{"content": str(hello)}, out: "", exit: 1, err: "exit status 1"},
		{name: "empty output", vals: map[string]cty.Value{"content": str(hello)}, out: "", err: "malformed"},
		{name: "garbage", vals: map[string]cty.Value{"content": str(hello)}, out: "hello\n", err: "malformed"},
		{name: "unknown key", vals: map[string]cty.Value{"content": str(hello)}, out: "type=file\nfoo=bar\n", err: "unexpected"},
		{name: "unknown type", vals: map[string]cty.Value{"content": str(hello)}, out: "type=weird\n", err: "malformed"},
		{name: "file without checksum", vals: map[string]cty.Value{"content": str(hello)}, out: "type=file\nstat=644 0 0 6 root root\n", err: "no checksum"},
		{name: "checksum without stat", vals: map[string]cty.Value{"content": str(hello)}, out: "type=file\nsha256=" + sum(hello) + "\n", err: "malformed"},
		{name: "short stat", vals: map[string]cty.Value{"content": str(hello)}, out: "type=file\nstat=644 0 0\nsha256=" + sum(hello) + "\n", err: "malformed"},
		{name: "bad mode", vals: map[string]cty.Value{"content": str(hello)}, out: "type=file\nstat=9z4 0 0 6 root root\nsha256=" + sum(hello) + "\n", err: "malformed mode"},
		{name: "bad uid", vals: map[string]cty.Value{"content": str(hello)}, out: "type=file\nstat=644 x 0 6 root root\nsha256=" + sum(hello) + "\n", err: "malformed owner"},
		{name: "bad checksum", vals: map[string]cty.Value{"content": str(hello)}, out: "type=file\nstat=644 0 0 6 root root\nsha256=xyz\n", err: "malformed checksum"},
		{name: "bad base64", vals: map[string]cty.Value{"content": str(hello)}, out: "type=file\nstat=644 0 0 6 root root\nsha256=" + sum("x") + "\nbase64=\n!!!\n", err: "malformed content"},

		{name: "absent: nothing there", vals: map[string]cty.Value{"state": str("absent")}, out: "type=none\n", action: resource.NoOp},
		{
			name: "absent: file removed", vals: map[string]cty.Value{"state": str("absent")}, out: "type=file\n",
			action: resource.Delete, changes: []resource.Change{{Field: "state", Old: "file", New: "absent"}}, priv: &Private{Delete: true},
		},
		{
			name: "absent: dangling link removed", vals: map[string]cty.Value{"state": str("absent")}, out: "link=1\ntype=none\n",
			action: resource.Delete, changes: []resource.Change{{Field: "state", Old: "symlink", New: "absent"}}, priv: &Private{Delete: true},
		},
		{name: "absent: directory", vals: map[string]cty.Value{"state": str("absent")}, out: "type=directory\n", err: "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.vals["path"] = str(path)
			f := newFile(t, tt.vals, tt.sensitive...)
			d, err := f.Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error with %q, got %v (%+v)", tt.err, err, d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v (%+v)", d.Action, tt.action, d)
			}
			if tt.changes != nil && fmt.Sprint(d.Changes) != fmt.Sprint(tt.changes) {
				t.Errorf("changes\n got %+v\nwant %+v", d.Changes, tt.changes)
			}
			switch {
			case tt.textDiff == "-" && d.TextDiff != "":
				t.Errorf("want no text diff, got\n%s", d.TextDiff)
			case tt.textDiff != "-" && !strings.Contains(d.TextDiff, tt.textDiff):
				t.Errorf("text diff\n%s\nwant it to contain\n%s", d.TextDiff, tt.textDiff)
			}
			if tt.priv != nil && fmt.Sprint(d.Private) != fmt.Sprint(tt.priv) {
				t.Errorf("private %+v, want %+v", d.Private, tt.priv)
			}
			if tt.action == resource.NoOp && !d.Empty() {
				t.Errorf("want empty diff")
			}
		})
	}
}

func TestSensitiveNeverLeaks(t *testing.T) {
	secret := "hunter2-very-secret"
	for _, tc := range []struct {
		name string
		vals map[string]cty.Value
		sens []string
	}{
		{"marked content", map[string]cty.Value{"content": str(secret)}, []string{"content"}},
		{"sensitive flag", map[string]cty.Value{"content": str(secret), "sensitive": cty.True}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(p, []byte("old secret value\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.vals["path"] = str(p)
			f := newFile(t, tc.vals, tc.sens...)
			snippet := f.Probe()
			if strings.Contains(snippet, sum(secret)) || strings.Contains(snippet, "base64") {
				t.Errorf("probe carries the checksum or fetches the content:\n%s", snippet)
			}
			out := runProbe(t, f)
			if bytes.Contains(out.Stdout, []byte(base64.StdEncoding.EncodeToString([]byte("old secret value\n")))) {
				t.Errorf("probe sent the current secret back")
			}
			d, err := f.Plan(out)
			if err != nil {
				t.Fatal(err)
			}
			all := fmt.Sprintf("%+v %s", d.Changes, d.TextDiff)
			for _, leak := range []string{secret, sum(secret)[:12], "old secret", sum("old secret value\n")[:12]} {
				if strings.Contains(all, leak) {
					t.Errorf("plan shows %q: %s", leak, all)
				}
			}
			if len(d.Changes) != 1 || !d.Changes[0].Sensitive {
				t.Errorf("want one sensitive change, got %+v", d.Changes)
			}
			// the write script carries the checksum, not the content
			if strings.Contains(f.writeScript(d.Private.(*Private), false)+f.writeScript(d.Private.(*Private), true), secret) {
				t.Error("the write script carries the secret")
			}
		})
	}
}

func TestTemplateSensitiveVars(t *testing.T) {
	base := t.TempDir()
	if err := os.WriteFile(filepath.Join(base, "t.tpl"), []byte("password=${pw}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(config(t, base, map[string]cty.Value{
		"path": str("/etc/x"), "template": str("t.tpl"),
		"vars": cty.ObjectVal(map[string]cty.Value{"pw": str("s3cret")}),
	}, "vars"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Plan(resource.ProbeResult{Stdout: []byte("type=none\n")})
	if err != nil {
		t.Fatal(err)
	}
	if d.TextDiff != "" || !d.Changes[0].Sensitive || strings.Contains(fmt.Sprint(d.Changes), "s3cret") {
		t.Errorf("sensitive vars leaked: %+v %q", d.Changes, d.TextDiff)
	}
}

func TestProbeSkipsFetchForBinaryDesired(t *testing.T) {
	f := newFile(t, map[string]cty.Value{"path": str("/x"), "content": str("a\x00b")})
	if strings.Contains(f.Probe(), "base64") {
		t.Error("probe fetches content although a binary file cannot be diffed")
	}
}

// Round trips on this machine, with the local transport.

func TestRoundTripCreateUpdateDelete(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "motd")
	f := newFile(t, map[string]cty.Value{"path": str(p), "content": str("hello\n")})
	d := converge(t, f)
	if d.Action != resource.Create {
		t.Fatalf("first plan %v", d.Action)
	}
	checkFile(t, p, "hello\n", 0o644, 0, 0)
	noTemp(t, dir)

	f = newFile(t, map[string]cty.Value{"path": str(p), "content": str("hello\nworld\n")})
	d = converge(t, f)
	if d.Action != resource.Update || !strings.Contains(d.TextDiff, "+world") {
		t.Fatalf("update plan %+v", d)
	}
	checkFile(t, p, "hello\nworld\n", 0o644, 0, 0)
	noTemp(t, dir)

	f = newFile(t, map[string]cty.Value{"path": str(p), "state": str("absent")})
	if d = converge(t, f); d.Action != resource.Delete {
		t.Fatalf("delete plan %+v", d)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
}

func TestRoundTripKeepsMetadataOnRewrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "conf")
	if err := os.WriteFile(p, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, os.Chown(p, 65534, 65534))
	must(t, syscall.Chmod(p, 0o4750))
	converge(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str("new\n")}))
	checkFile(t, p, "new\n", 0o4750, 65534, 65534)
}

func TestRoundTripMetadataOnlyDoesNotRewrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "conf")
	must(t, os.WriteFile(p, []byte("same\n"), 0o644))
	before := inode(t, p)
	d := converge(t, newFile(t, map[string]cty.Value{
		"path": str(p), "content": str("same\n"), "mode": str("0640"), "owner": str("nobody"), "group": str("nogroup"),
	}))
	if d.Private.(*Private).Write {
		t.Error("metadata change planned a rewrite")
	}
	checkFile(t, p, "same\n", 0o640, 65534, 65534)
	if inode(t, p) != before {
		t.Error("the file was rewritten (new inode)")
	}
	// content and owner together: owner by number
	d = converge(t, newFile(t, map[string]cty.Value{
		"path": str(p), "content": str("other\n"), "owner": str("0"), "mode": str("4711"),
	}))
	if !d.Private.(*Private).Write {
		t.Error("content change without rewrite")
	}
	checkFile(t, p, "other\n", 0o4711, 0, 65534)
}

func TestFailedWriteLeavesOldFileAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "conf")
	must(t, os.WriteFile(p, []byte("old\n"), 0o644))
	f := newFile(t, map[string]cty.Value{"path": str(p), "content": str("new\n"), "owner": str("no-such-user-pinery")})
	d := plan(t, f)
	err := f.Apply(context.Background(), transport.NewLocal(), d)
	if err == nil || !strings.Contains(err.Error(), "no-such-user-pinery") {
		t.Fatalf("want an error naming the user, got %v", err)
	}
	checkFile(t, p, "old\n", 0o644, 0, 0)
	noTemp(t, dir)
}

func TestIncompleteStreamIsNotInstalled(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "conf")
	must(t, os.WriteFile(p, []byte("old\n"), 0o644))
	f := newFile(t, map[string]cty.Value{"path": str(p), "content": str("new content\n")})
	d := plan(t, f)
	// a transport that loses the end of the stream
	res, err := transport.NewLocal().Run(context.Background(), f.writeScript(d.Private.(*Private), false), strings.NewReader("new con"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 4 {
		t.Fatalf("exit %d, want 4 (checksum mismatch): %s", res.ExitCode, res.Stderr)
	}
	checkFile(t, p, "old\n", 0o644, 0, 0)
	noTemp(t, dir)
}

func TestParents(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "conf")
	f := newFile(t, map[string]cty.Value{"path": str(p), "content": str("x")})
	d := plan(t, f)
	err := f.Apply(context.Background(), transport.NewLocal(), d)
	if err == nil || !strings.Contains(err.Error(), "parents = true") || !strings.Contains(err.Error(), "directory resource") {
		t.Fatalf("want a missing-parent error, got %v", err)
	}
	converge(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str("x"), "parents": cty.True}))
	checkFile(t, p, "x", 0o644, 0, 0)
	st, err := os.Stat(filepath.Join(dir, "a"))
	must(t, err)
	if st.Mode().Perm() != 0o755 {
		t.Errorf("parent mode %v", st.Mode())
	}
}

func TestHostilePathsAndContents(t *testing.T) {
	dir := t.TempDir()
	names := []string{
		"with space", "it's", `dq"uote`, "$(touch PWNED)", "`touch PWNED`", "new\nline", "-rf", "--help",
		"trailing\n", "*", "semi;colon", "back\\slash", "$HOME", "ünïcödé",
	}
	contents := []string{
		"$(touch PWNED)\n", "`touch PWNED`", "'\"\\\n", "no newline at end", "", "\n\n\n", "-n\n", "EOF\n'EOF'\n",
	}
	for i, n := range names {
		p := filepath.Join(dir, n)
		c := contents[i%len(contents)]
		t.Run(fmt.Sprintf("%q", n), func(t *testing.T) {
			converge(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str(c), "mode": str("0600")}))
			checkFile(t, p, c, 0o600, 0, 0)
			converge(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str(c + "more")}))
			checkFile(t, p, c+"more", 0o600, 0, 0)
			converge(t, newFile(t, map[string]cty.Value{"path": str(p), "state": str("absent")}))
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Fatalf("not removed: %v", err)
			}
		})
	}
	// a hostile directory name, with parents
	p := filepath.Join(dir, "$(touch PWNED) 'x'", "-d", "f")
	converge(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str("x"), "parents": cty.True}))
	checkFile(t, p, "x", 0o644, 0, 0)
	if _, err := os.Stat("PWNED"); err == nil {
		t.Fatal("a command in a name was run")
	}
	if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
		t.Fatal("a command in a name was run")
	}
	noTemp(t, dir)
}

func TestEmptyAndNoNewline(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	d := converge(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str("")}))
	if d.Action != resource.Create {
		t.Fatal(d.Action)
	}
	checkFile(t, p, "", 0o644, 0, 0)
	d = converge(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str("a\nb")}))
	if !strings.Contains(d.TextDiff, "+b\n\\ No newline at end of file") {
		t.Errorf("diff:\n%s", d.TextDiff)
	}
	checkFile(t, p, "a\nb", 0o644, 0, 0)
	d = converge(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str("a\nb\n")}))
	if !strings.Contains(d.TextDiff, "-b\n\\ No newline at end of file\n+b\n") {
		t.Errorf("diff:\n%s", d.TextDiff)
	}
}

func TestBinarySource(t *testing.T) {
	base := t.TempDir()
	bin := make([]byte, 70000)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	must(t, os.MkdirAll(filepath.Join(base, "files"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "files", "blob.bin"), bin, 0o644))
	dir := t.TempDir()
	p := filepath.Join(dir, "blob")
	r, err := New(config(t, base, map[string]cty.Value{"path": str(p), "source": str("files/blob.bin"), "mode": str("0755")}))
	must(t, err)
	d := converge(t, r)
	if d.TextDiff != "" {
		t.Error("a text diff of binary content")
	}
	got, err := os.ReadFile(p)
	must(t, err)
	if !bytes.Equal(got, bin) {
		t.Fatal("binary content changed in transit")
	}
	// change one byte: planned as an update, still no text diff
	bin[100] ^= 0xff
	must(t, os.WriteFile(filepath.Join(base, "files", "blob.bin"), bin, 0o644))
	r, err = New(config(t, base, map[string]cty.Value{"path": str(p), "source": str(filepath.Join(base, "files/blob.bin"))}))
	must(t, err)
	d = converge(t, r)
	if d.Action != resource.Update || d.TextDiff != "" {
		t.Fatalf("%+v", d)
	}
	checkFile(t, p, string(bin), 0o755, 0, 0)
}

func TestTemplateWithVars(t *testing.T) {
	base := t.TempDir()
	tpl := `listen ${port};
%{ for b in backends ~}
server ${b};
%{ endfor ~}
name ${upper(name)}
`
	must(t, os.MkdirAll(filepath.Join(base, "templates"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "templates", "site.tpl"), []byte(tpl), 0o644))
	p := filepath.Join(t.TempDir(), "site.conf")
	vars := cty.ObjectVal(map[string]cty.Value{
		"port":     cty.NumberIntVal(8080),
		"backends": cty.TupleVal([]cty.Value{str("10.0.0.1:80"), str("10.0.0.2:80")}),
		"name":     str("render"),
	})
	r, err := New(config(t, base, map[string]cty.Value{"path": str(p), "template": str("templates/site.tpl"), "vars": vars}))
	must(t, err)
	converge(t, r)
	checkFile(t, p, "listen 8080;\nserver 10.0.0.1:80;\nserver 10.0.0.2:80;\nname RENDER\n", 0o644, 0, 0)

	// a map of strings works too; a missing variable is an error naming the template
	r, err = New(config(t, base, map[string]cty.Value{"path": str(p), "template": str("templates/site.tpl"),
		"vars": cty.MapVal(map[string]cty.Value{"port": str("1")})}))
	if err == nil || !strings.Contains(err.Error(), "site.tpl") {
		t.Fatalf("want a template error, got %v (%v)", err, r)
	}
}

func TestDirectoryAtPathIsAnError(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	must(t, os.Symlink(filepath.Join(dir, "d"), filepath.Join(dir, "l")))
	for _, n := range []string{"d", "l"} {
		f := newFile(t, map[string]cty.Value{"path": str(filepath.Join(dir, n)), "content": str("x")})
		if _, err := f.Plan(runProbe(t, f)); err == nil || !strings.Contains(err.Error(), "directory") {
			t.Errorf("%s: want a directory error, got %v", n, err)
		}
	}
	// a fifo is not read (that would block) and is an error
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	f := newFile(t, map[string]cty.Value{"path": str(filepath.Join(dir, "fifo")), "content": str("x")})
	if _, err := f.Plan(runProbe(t, f)); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: got %v", err)
	}
}

func TestSymlinkIsReplacedNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	must(t, os.WriteFile(target, []byte("precious\n"), 0o600))
	must(t, os.Symlink(target, link))
	d := converge(t, newFile(t, map[string]cty.Value{"path": str(link), "content": str("new\n")}))
	if d.Changes[0].Field != "type" || !strings.Contains(d.TextDiff, "-precious") {
		t.Errorf("plan %+v\n%s", d.Changes, d.TextDiff)
	}
	checkFile(t, link, "new\n", 0o644, 0, 0)
	checkFile(t, target, "precious\n", 0o600, 0, 0)

	// absent removes a link, not its target
	must(t, os.Remove(link))
	must(t, os.Symlink(target, link))
	converge(t, newFile(t, map[string]cty.Value{"path": str(link), "state": str("absent")}))
	checkFile(t, target, "precious\n", 0o600, 0, 0)
}

func TestProbeLargeFileIsNotFetched(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	must(t, os.WriteFile(p, bytes.Repeat([]byte("a\n"), maxDiff), 0o644))
	f := newFile(t, map[string]cty.Value{"path": str(p), "content": str("small\n")})
	out := runProbe(t, f)
	if bytes.Contains(out.Stdout, []byte("base64=")) {
		t.Error("a file over the limit was fetched")
	}
	d := converge(t, f)
	if d.TextDiff != "" || d.Action != resource.Update {
		t.Errorf("%+v", d)
	}
}

func TestProbeConvergedSendsNoContent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(p, []byte("same\n"), 0o644))
	out := runProbe(t, newFile(t, map[string]cty.Value{"path": str(p), "content": str("same\n")}))
	if bytes.Contains(out.Stdout, []byte("base64")) {
		t.Errorf("converged probe fetched content:\n%s", out.Stdout)
	}
}

func checkFile(t *testing.T, p, content string, mode os.FileMode, uid, gid int) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Mode().IsRegular() {
		t.Fatalf("%s is %v, not a regular file", p, st.Mode())
	}
	got, err := os.ReadFile(p)
	must(t, err)
	if string(got) != content {
		t.Errorf("%s: content %q, want %q", p, got, content)
	}
	perm := st.Mode().Perm()
	if st.Mode()&os.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if st.Mode()&os.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if st.Mode()&os.ModeSticky != 0 {
		perm |= 0o1000
	}
	if perm != mode {
		t.Errorf("%s: mode %o, want %o", p, perm, mode)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if int(sys.Uid) != uid || int(sys.Gid) != gid {
		t.Errorf("%s: owner %d:%d, want %d:%d", p, sys.Uid, sys.Gid, uid, gid)
	}
}

func noTemp(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".pinery-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return err
	})
	must(t, err)
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	must(t, err)
	return st.Sys().(*syscall.Stat_t).Ino
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestHostileOwnerIsNotInterpreted(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	must(t, os.WriteFile(p, []byte("x"), 0o644))
	for _, owner := range []string{"$(touch${IFS}PWNED)", "`touch`", "a;b", "'q'"} {
		f := newFile(t, map[string]cty.Value{"path": str(p), "content": str("x"), "owner": str(owner)})
		d := plan(t, f)
		err := f.Apply(context.Background(), transport.NewLocal(), d)
		if err == nil || !strings.Contains(err.Error(), "invalid user") {
			t.Errorf("%s: want chown's invalid user, got %v", owner, err)
		}
	}
	if _, err := os.Stat("PWNED"); err == nil {
		t.Fatal("a command in an owner was run")
	}
	checkFile(t, p, "x", 0o644, 0, 0)
}

// The engine runs every snippet of a host in one script; snippets must not
// disturb each other (exit, variables, set -f).
func TestProbesBatchInOneScript(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a"), []byte("old\n"), 0o644))
	fs := []*File{
		newFile(t, map[string]cty.Value{"path": str(filepath.Join(dir, "none")), "content": str("x")}),
		newFile(t, map[string]cty.Value{"path": str(filepath.Join(dir, "a")), "content": str("new\n")}),
		newFile(t, map[string]cty.Value{"path": str(filepath.Join(dir, "none")), "state": str("absent")}),
		newFile(t, map[string]cty.Value{"path": str(filepath.Join(dir, "a")), "content": str("old\n")}),
	}
	var script strings.Builder
	for i, f := range fs {
		fmt.Fprintf(&script, "echo '@@%d'\n( %s\n) </dev/null\necho \"@@rc=$?\"\n", i, f.Probe())
	}
	res, err := transport.NewLocal().Run(context.Background(), script.String(), nil)
	must(t, err)
	if len(res.Stderr) > 0 {
		t.Fatalf("stderr: %s", res.Stderr)
	}
	parts := strings.Split(string(res.Stdout), "@@")[1:]
	if len(parts) != 2*len(fs) {
		t.Fatalf("got %d parts:\n%s", len(parts), res.Stdout)
	}
	want := []resource.Action{resource.Create, resource.Update, resource.NoOp, resource.NoOp}
	for i, f := range fs {
		_, body, _ := strings.Cut(parts[2*i], "\n")
		if parts[2*i+1] != "rc=0\n" {
			t.Fatalf("snippet %d: %q", i, parts[2*i+1])
		}
		d, err := f.Plan(resource.ProbeResult{Stdout: []byte(body)})
		must(t, err)
		if d.Action != want[i] {
			t.Errorf("snippet %d: %v, want %v", i, d.Action, want[i])
		}
	}
}

func TestProbeFailureIsExplained(t *testing.T) {
	f := newFile(t, map[string]cty.Value{"path": str("/x"), "content": str("x")})
	_, err := f.Plan(resource.ProbeResult{Stdout: []byte("type=file\nstat=644 0 0 1 root root\nerror=read\n"), ExitCode: 1})
	if err == nil || !strings.Contains(err.Error(), "cannot read") || !strings.Contains(err.Error(), `"/x"`) {
		t.Fatalf("got %v", err)
	}
}
