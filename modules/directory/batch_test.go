package directory

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	probescript "github.com/pinery/pinery/engine/probe"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// The batched probe must tell Plan exactly what each directory's own probe
// tells it, whatever is on disk: directories as wanted or not, missing ones,
// files and links in the way, empty and non-empty ones to remove, odd names,
// unreadable parents, the same path twice.
func TestProbeAllMatchesProbe(t *testing.T) {
	base := t.TempDir()
	p := func(name string) string { return filepath.Join(base, name) }
	mkdir := func(name string, mode os.FileMode) {
		t.Helper()
		must(t, os.Mkdir(p(name), mode))
		must(t, os.Chmod(p(name), mode)) // past the umask
	}
	mkdir("same", 0o755)
	mkdir("differs", 0o700)
	mkdir("sticky", 0o1777)
	mkdir("new\nline", 0o755)
	mkdir(`back\slash`, 0o755)
	mkdir("two  spaces 'quote' $(x)", 0o755)
	mkdir("empty", 0o755)
	mkdir("full", 0o755)
	must(t, os.WriteFile(p("full/.hidden"), nil, 0o644))
	mkdir("target", 0o750)
	must(t, os.Symlink(p("target"), p("link")))
	must(t, os.Symlink(p("target"), p("link-absent")))
	must(t, os.Symlink(p("nowhere"), p("dangling")))
	must(t, os.WriteFile(p("file"), nil, 0o644))
	mkdir("locked", 0o755)
	mkdir("locked/inner", 0o755)
	must(t, os.Chmod(p("locked"), 0o000))
	t.Cleanup(func() { _ = os.Chmod(p("locked"), 0o755) })

	dirs := []*Directory{
		newDir(t, map[string]cty.Value{"path": str(p("same")), "mode": str("0755")}),
		newDir(t, map[string]cty.Value{"path": str(p("differs")), "mode": str("0755"), "owner": str("nobody"), "group": str("0")}),
		newDir(t, map[string]cty.Value{"path": str(p("sticky")), "mode": str("1777")}),
		newDir(t, map[string]cty.Value{"path": str(p("new\nline"))}),
		newDir(t, map[string]cty.Value{"path": str(p(`back\slash`)), "mode": str("0700")}),
		newDir(t, map[string]cty.Value{"path": str(p("two  spaces 'quote' $(x)")), "mode": str("0755")}),
		newDir(t, map[string]cty.Value{"path": str(p("missing")), "mode": str("0700")}),
		newDir(t, map[string]cty.Value{"path": str(p("missing/deeper"))}),
		newDir(t, map[string]cty.Value{"path": str(p("link")), "mode": str("0755")}),
		newDir(t, map[string]cty.Value{"path": str(p("dangling"))}),
		newDir(t, map[string]cty.Value{"path": str(p("file"))}),
		newDir(t, map[string]cty.Value{"path": str(p("empty")), "state": str("absent")}),
		newDir(t, map[string]cty.Value{"path": str(p("full")), "state": str("absent")}),
		newDir(t, map[string]cty.Value{"path": str(p("full")), "state": str("absent"), "force": cty.True}),
		newDir(t, map[string]cty.Value{"path": str(p("link-absent")), "state": str("absent")}),
		newDir(t, map[string]cty.Value{"path": str(p("dangling")), "state": str("absent")}),
		newDir(t, map[string]cty.Value{"path": str(p("file")), "state": str("absent")}),
		newDir(t, map[string]cty.Value{"path": str(p("gone")), "state": str("absent")}),
		newDir(t, map[string]cty.Value{"path": str(p("same")), "owner": str("root")}),
		// root sees through a parent without permissions, others do not
		newDir(t, map[string]cty.Value{"path": str(p("locked/inner")), "mode": str("0755")}),
		newDir(t, map[string]cty.Value{"path": str(p("target")), "mode": str("0750")}),
	}
	rs := make([]resource.Resource, len(dirs))
	for i, x := range dirs {
		rs[i] = x
	}
	// As the engine runs it: framed, and with -e and -f set (the snippet
	// must not depend on the options it inherits).
	snippet, split := dirs[0].ProbeAll(rs)
	for _, opts := range []string{"", "set -ef\n"} {
		script := probescript.New([]string{opts + snippet})
		res, err := transport.NewLocal().Run(context.Background(), "exec sh -s", strings.NewReader(script.Text))
		if err != nil || res.ExitCode != 0 || len(res.Stderr) > 0 {
			t.Fatalf("run: %v %+v", err, res)
		}
		outs, err := script.Parse(res.Stdout)
		if err != nil {
			t.Fatal(err)
		}
		// One stat for all: the directories' own probes fork one each.
		if n := strings.Count(snippet, "stat "); n != 1 {
			t.Errorf("the batched probe runs %d stat commands", n)
		}
		got, err := split(outs[0])
		if err != nil {
			t.Fatalf("split: %v\n%q", err, outs[0].Stdout)
		}
		if len(got) != len(dirs) {
			t.Fatalf("got %d results for %d directories", len(got), len(dirs))
		}
		for i, x := range dirs {
			want := runProbe(t, x)
			if !bytes.Equal(got[i].Stdout, want.Stdout) || got[i].ExitCode != want.ExitCode {
				t.Errorf("%q (%s): batched probe\n%s(rc %d)\nown probe\n%s(rc %d)", x.path, opts, got[i].Stdout, got[i].ExitCode, want.Stdout, want.ExitCode)
			}
			dg, eg := x.Plan(got[i])
			dw, ew := x.Plan(want)
			if (eg == nil) != (ew == nil) || (eg != nil && eg.Error() != ew.Error()) || (dg == nil) != (dw == nil) ||
				(dg != nil && (dg.Action != dw.Action || len(dg.Changes) != len(dw.Changes))) {
				t.Errorf("%q: plans differ: batched %+v %v, own %+v %v", x.path, dg, eg, dw, ew)
			}
		}
	}
}

func TestSplitBatchRejectsDamage(t *testing.T) {
	a := newDir(t, map[string]cty.Value{"path": str("/srv/a")})
	b := newDir(t, map[string]cty.Value{"path": str("/srv/b"), "state": str("absent")})
	dirs := []*Directory{a, b}
	good := "0 directory\n0 directory 1\n/srv/a\x00755 0 0 root root\x00"
	got, err := splitBatch(dirs, resource.ProbeResult{Stdout: []byte(good)})
	if err != nil {
		t.Fatalf("good output rejected: %v", err)
	}
	if string(got[0].Stdout) != "type=directory\nstat=755 0 0 root root\n" || string(got[1].Stdout) != "type=directory\nempty=1\n" {
		t.Fatalf("good output split wrong: %q %q", got[0].Stdout, got[1].Stdout)
	}
	// A directory stat could not read has no record: Probe's error=stat.
	got, err = splitBatch(dirs, resource.ProbeResult{Stdout: []byte("0 directory\n0 none\n")})
	if err != nil || string(got[0].Stdout) != "type=directory\nerror=stat\n" || got[0].ExitCode != 1 {
		t.Fatalf("missing stat record: %+v %v", got, err)
	}
	for name, out := range map[string]string{
		"empty":             "",
		"bad link flag":     "2 directory\n0 none\n",
		"bad type":          "0 fifo\n0 none\n",
		"missing emptiness": "0 directory\n0 directory\n",
		"stray emptiness":   "0 directory 1\n0 none\n",
		"bad emptiness":     "0 directory\n0 directory 2\n",
		"emptiness of link": "0 directory\n1 directory 1\n",
		"cut stat":          "0 directory\n0 none\n/srv/a\x00755 0 0 root root",
		"cut name":          "0 directory\n0 none\n/srv/a",
		"unexpected stat":   "0 directory\n0 none\n/srv/b\x00755 0 0 root root\x00",
		"stat twice":        "0 directory\n0 none\n/srv/a\x00755 0 0 root root\x00/srv/a\x00755 0 0 root root\x00",
	} {
		if _, err := splitBatch(dirs, resource.ProbeResult{Stdout: []byte(out)}); err == nil {
			t.Errorf("%s: damaged output accepted", name)
		}
	}
	if _, err := splitBatch(dirs, resource.ProbeResult{Stdout: []byte(good), ExitCode: 2}); err == nil {
		t.Error("a failed batch was accepted")
	}
}
