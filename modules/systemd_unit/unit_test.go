package systemdunit

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

func TestNewValidation(t *testing.T) {
	svc := "[Service]\nExecStart=/bin/true\n"
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"no type", map[string]cty.Value{"name": str("nginx"), "content": str(svc)}, "name", "with its type"},
		{"unknown type", map[string]cty.Value{"name": str("nginx.conf"), "content": str(svc)}, "name", "no unit type"},
		{"only type", map[string]cty.Value{"name": str(".service"), "content": str(svc)}, "name", "must not start"},
		{"slash", map[string]cty.Value{"name": str("../x.service"), "content": str(svc)}, "name", "not a unit name"},
		{"space", map[string]cty.Value{"name": str("a b.service"), "content": str(svc)}, "name", "not a unit name"},
		{"two at", map[string]cty.Value{"name": str("a@b@c.service"), "content": str(svc)}, "name", "more than one '@'"},
		{"dash first", map[string]cty.Value{"name": str("-x.service"), "content": str(svc)}, "name", "must not start"},
		{"empty", map[string]cty.Value{"name": str(""), "content": str(svc)}, "name", "empty"},
		{"dropin slash", map[string]cty.Value{"name": str("a.service"), "dropin": str("../x"), "content": str(svc)}, "dropin", "not a drop-in name"},
		{"dropin dot", map[string]cty.Value{"name": str("a.service"), "dropin": str(".hidden"), "content": str(svc)}, "dropin", "not a drop-in name"},
		{"dropin empty", map[string]cty.Value{"name": str("a.service"), "dropin": str(".conf"), "content": str(svc)}, "dropin", "not a drop-in name"},
		{"no content", map[string]cty.Value{"name": str("a.service")}, "content", "required"},
		{"content absent", map[string]cty.Value{"name": str("a.service"), "content": str(svc), "state": str("absent")}, "content", "no effect"},
		{"bad state", map[string]cty.Value{"name": str("a.service"), "content": str(svc), "state": str("gone")}, "state", `"present" or "absent"`},
		{"unknown content", map[string]cty.Value{"name": str("a.service"), "content": cty.UnknownVal(cty.String)}, "content", "not known"},
		{"nul", map[string]cty.Value{"name": str("a.service"), "content": str("a\x00")}, "content", "NUL"},
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
}

func TestNewPaths(t *testing.T) {
	tests := []struct {
		vals map[string]cty.Value
		path string
	}{
		{map[string]cty.Value{"name": str("render-worker.service"), "content": str("")}, "/etc/systemd/system/render-worker.service"},
		{map[string]cty.Value{"name": str("backup.timer"), "state": str("absent")}, "/etc/systemd/system/backup.timer"},
		{map[string]cty.Value{"name": str("getty@.service"), "content": str("x")}, "/etc/systemd/system/getty@.service"},
		{map[string]cty.Value{"name": str("getty@tty1.service"), "content": str("x")}, "/etc/systemd/system/getty@tty1.service"},
		{map[string]cty.Value{"name": str("matrix-synapse.service"), "dropin": str("50-memory"), "content": str("x")}, "/etc/systemd/system/matrix-synapse.service.d/50-memory.conf"},
		{map[string]cty.Value{"name": str("a.service"), "dropin": str("override.conf"), "content": str("x")}, "/etc/systemd/system/a.service.d/override.conf"},
	}
	for _, tt := range tests {
		if u := newUnit(t, tt.vals); u.path != tt.path {
			t.Errorf("%v: path %s, want %s", tt.vals, u.path, tt.path)
		}
	}
}

func TestPlanTable(t *testing.T) {
	const want = "[Service]\nMemoryMax=1G\n"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) + "\n" }
	present := map[string]cty.Value{"name": str("a.service"), "dropin": str("50-mem"), "content": str(want)}
	absent := map[string]cty.Value{"name": str("a.service"), "state": str("absent")}
	tests := []struct {
		name     string
		vals     map[string]cty.Value
		out      string
		exit     int
		action   resource.Action
		fields   []string
		textDiff string // substring; "-" for none
		priv     Private
		err      string
	}{
		{name: "new", vals: present, out: "type=none\n", action: resource.Create, fields: []string{"content"},
			textDiff: "+MemoryMax=1G", priv: Private{Write: true, Reload: true}},
		{name: "same", vals: present, out: "reload=no\ntype=file\nstat=644 0 0 25\nbase64=\n" + b64(want), action: resource.NoOp},
		{name: "same but not reloaded", vals: present, out: "reload=yes\ntype=file\nstat=644 0 0 25\nbase64=\n" + b64(want),
			action: resource.Update, fields: []string{"daemon-reload"}, textDiff: "-", priv: Private{Reload: true}},
		{name: "changed", vals: present, out: "type=file\nstat=644 0 0 25\nbase64=\n" + b64("[Service]\nMemoryMax=2G\n"),
			action: resource.Update, fields: []string{"content"}, textDiff: "-MemoryMax=2G\n+MemoryMax=1G", priv: Private{Write: true, Reload: true}},
		{name: "big file by checksum", vals: present, out: "type=file\nstat=644 0 0 99999\nsha256=" + strings.Repeat("ab", 32) + "\n",
			action: resource.Update, fields: []string{"content"}, textDiff: "-", priv: Private{Write: true, Reload: true}},
		{name: "mode and owner", vals: present, out: "type=file\nstat=600 1000 0 25\nbase64=\n" + b64(want),
			action: resource.Update, fields: []string{"mode", "owner"}, textDiff: "-", priv: Private{Write: true, Reload: true}},
		{name: "masked", vals: present, out: "link=1\ntype=other\n", action: resource.Update, fields: []string{"type", "content"},
			textDiff: "+MemoryMax", priv: Private{Write: true, Reload: true}},
		{name: "directory", vals: present, out: "type=directory\n", err: "is a directory"},
		{name: "fifo", vals: present, out: "type=other\n", err: "not a regular file"},
		{name: "unreadable", vals: present, out: "type=file\nerror=stat\n", exit: 1, err: "cannot read"},
		{name: "garbage", vals: present, out: "what\n", err: "malformed"},
		{name: "absent and gone", vals: absent, out: "reload=no\ntype=none\n", action: resource.NoOp},
		{name: "absent removes", vals: absent, out: "type=file\n", action: resource.Delete, fields: []string{"state"}, priv: Private{Delete: true, Reload: true}},
		{name: "absent removes link", vals: absent, out: "link=1\ntype=none\n", action: resource.Delete, fields: []string{"state"}, priv: Private{Delete: true, Reload: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnit(t, tt.vals)
			d, err := u.Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v (%+v)", d.Action, tt.action, d)
			}
			var fields []string
			for _, c := range d.Changes {
				fields = append(fields, c.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("changes %+v, want fields %v", d.Changes, tt.fields)
			}
			switch {
			case tt.textDiff == "-" && d.TextDiff != "":
				t.Errorf("unexpected text diff:\n%s", d.TextDiff)
			case tt.textDiff != "-" && !strings.Contains(d.TextDiff, tt.textDiff):
				t.Errorf("text diff %q, want %q in it", d.TextDiff, tt.textDiff)
			}
			if tt.action != resource.NoOp && *d.Private.(*Private) != tt.priv {
				t.Errorf("private %+v, want %+v", d.Private, tt.priv)
			}
		})
	}
}

// The probe's real output parses, locally, for a small and a big file, a
// link and nothing (the path moved to a temporary directory).
func TestProbeLocal(t *testing.T) {
	dir := t.TempDir()
	local := transport.NewLocal()
	const want = "[Unit]\nDescription=x\n"
	u := newUnit(t, map[string]cty.Value{"name": str("x.service"), "content": str(want)})
	u.path = filepath.Join(dir, "x.service")
	if d := plan(t, local, u); d.Action != resource.Create {
		t.Fatalf("missing: %+v", d)
	}
	if err := os.WriteFile(u.path, []byte("[Unit]\nDescription=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := plan(t, local, u)
	if !strings.Contains(d.TextDiff, "-Description=y\n+Description=x") {
		t.Fatalf("diff %q", d.TextDiff)
	}
	if err := os.WriteFile(u.path, []byte(strings.Repeat("#\n", maxFetch)), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := plan(t, local, u); d.TextDiff != "" || !strings.Contains(d.Changes[0].Old, "131072 bytes") {
		t.Fatalf("big file: %+v", d)
	}
	if err := os.Remove(u.path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/null", u.path); err != nil {
		t.Fatal(err)
	}
	if d := plan(t, local, u); d.Changes[0].Field != "type" {
		t.Fatalf("link: %+v", d)
	}
}

func TestApplyScriptQuoting(t *testing.T) {
	u := newUnit(t, map[string]cty.Value{"name": str(`a\x2db.service`), "dropin": str("50-x"), "content": str("x")})
	s := u.fileScript(&Private{Write: true})
	if !strings.Contains(s, `p='/etc/systemd/system/a\x2db.service.d/50-x.conf'`) {
		t.Errorf("path not quoted:\n%s", s)
	}
	if !strings.Contains(u.loadCheck(0), `-- 'a\x2db.service'`) {
		t.Errorf("unit not quoted:\n%s", u.loadCheck(0))
	}
}

func TestApplyAllNothing(t *testing.T) {
	u := newUnit(t, map[string]cty.Value{"name": str("a.service"), "content": str("x")})
	if err := u.ApplyAll(context.Background(), nil, []resource.Resource{u}, []*resource.Diff{{}}); err != nil {
		t.Fatal(err)
	}
}
