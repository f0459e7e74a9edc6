package file

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

// The batched probe must tell Plan exactly what each file's own probe tells
// it, whatever is on disk: matching and differing files, missing ones,
// directories, links, odd names, unreadable and large files, sensitive ones.
func TestProbeAllMatchesProbe(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(p("same"), []byte("same\n"), 0o644))
	must(os.WriteFile(p("differs"), []byte("old\n"), 0o600))
	must(os.WriteFile(p("big"), bytes.Repeat([]byte("b\n"), maxDiff), 0o644))
	must(os.WriteFile(p("secret"), []byte("old secret\n"), 0o600))
	must(os.WriteFile(p("binary"), []byte{0, 1, 2}, 0o644))
	must(os.WriteFile(p("new\nline"), []byte("x\n"), 0o644))
	must(os.WriteFile(p(`back\slash`), []byte("y\n"), 0o644))
	must(os.WriteFile(p("two  spaces 'quote'"), []byte("z\n"), 0o644))
	must(os.WriteFile(p("unwanted"), []byte("bye\n"), 0o644))
	must(os.Mkdir(p("adir"), 0o755))
	must(os.Symlink(p("same"), p("link")))
	must(os.Symlink(p("nowhere"), p("dangling")))
	must(os.WriteFile(p("unreadable"), []byte("u\n"), 0o000))

	str := cty.StringVal
	files := []*File{
		newFile(t, map[string]cty.Value{"path": str(p("same")), "content": str("same\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("differs")), "content": str("new\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("big")), "content": str("small\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("secret")), "content": str("new secret\n")}, "content"),
		newFile(t, map[string]cty.Value{"path": str(p("binary")), "content": str("text\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("new\nline")), "content": str("x2\n")}),
		newFile(t, map[string]cty.Value{"path": str(p(`back\slash`)), "content": str("y\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("two  spaces 'quote'")), "content": str("z2\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("unwanted")), "state": str("absent")}),
		newFile(t, map[string]cty.Value{"path": str(p("missing")), "content": str("m\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("adir")), "content": str("d\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("link")), "content": str("l\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("dangling")), "content": str("l\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("missing2")), "state": str("absent")}),
	}
	if os.Geteuid() != 0 {
		files = append(files, newFile(t, map[string]cty.Value{"path": str(p("unreadable")), "content": str("u\n")}))
	}
	rs := make([]resource.Resource, len(files))
	for i, f := range files {
		rs[i] = f
	}
	snippet, split := files[0].ProbeAll(rs)
	script := probescript.New([]string{snippet})
	res, err := transport.NewLocal().Run(context.Background(), "exec sh -s", strings.NewReader(script.Text))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %v %+v", err, res)
	}
	outs, err := script.Parse(res.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	// A file that already has its content is not read back.
	if bytes.Contains(outs[0].Stdout, []byte("\nC 0\n")) {
		t.Errorf("the batched probe fetched the content of a converged file:\n%s", outs[0].Stdout)
	}
	got, err := split(outs[0])
	if err != nil {
		t.Fatalf("split: %v\n%s", err, outs[0].Stdout)
	}
	if len(got) != len(files) {
		t.Fatalf("got %d results for %d files", len(got), len(files))
	}
	for i, f := range files {
		want := runProbe(t, f)
		if !bytes.Equal(normalize(got[i].Stdout), normalize(want.Stdout)) || got[i].ExitCode != want.ExitCode {
			t.Errorf("%q: batched probe\n%s(rc %d)\nown probe\n%s(rc %d)", f.path, got[i].Stdout, got[i].ExitCode, want.Stdout, want.ExitCode)
		}
		dg, eg := f.Plan(got[i])
		dw, ew := f.Plan(want)
		if (eg == nil) != (ew == nil) || (dg == nil) != (dw == nil) || (dg != nil && (dg.Action != dw.Action || dg.TextDiff != dw.TextDiff)) {
			t.Errorf("%q: plans differ: batched %+v %v, own %+v %v", f.path, dg, eg, dw, ew)
		}
	}
}

// normalize joins base64 lines, whose wrapping may differ in length.
func normalize(b []byte) []byte {
	head, b64, ok := bytes.Cut(b, []byte("base64=\n"))
	if !ok {
		return b
	}
	return append(append(head, "base64=\n"...), bytes.ReplaceAll(b64, []byte("\n"), nil)...)
}

func TestSplitBatchRejectsDamage(t *testing.T) {
	f := newFile(t, map[string]cty.Value{"path": cty.StringVal("/etc/a"), "content": cty.StringVal("a\n")})
	g := newFile(t, map[string]cty.Value{"path": cty.StringVal("/etc/b"), "content": cty.StringVal("b\n")})
	files := []*File{f, g}
	sum := strings.Repeat("a", 64)
	good := "0 file\n0 file\n644 0 0 2 root root /etc/a\x00644 0 0 2 root root /etc/b\x00\x00" + sum + "  /etc/a\n" + sum + "  /etc/b\n--\n"
	if _, err := splitBatch(files, resource.ProbeResult{Stdout: []byte(good)}); err != nil {
		t.Fatalf("good output rejected: %v", err)
	}
	for name, out := range map[string]string{
		"empty":           "",
		"bad type":        "2 file\n0 file\n",
		"no stat end":     "0 file\n0 file\n644 0 0 2 root root /etc/a\x00",
		"short stat":      "0 file\n0 file\n644 0 /etc/a\x00\x00--\n",
		"unexpected stat": "0 file\n0 file\n644 0 0 2 root root /etc/c\x00\x00--\n",
		"no sums end":     "0 file\n0 file\n\x00" + sum + "  /etc/a\n",
		"bad sum":         "0 file\n0 file\n\x00xyz  /etc/a\n--\n",
		"stray content":   "0 file\n0 file\n\x00--\nQUJD\n",
		"bad header":      "0 file\n0 file\n\x00--\nC 9\nQUJD\n",
	} {
		if _, err := splitBatch(files, resource.ProbeResult{Stdout: []byte(out)}); err == nil {
			t.Errorf("%s: damaged output accepted", name)
		}
	}
}
