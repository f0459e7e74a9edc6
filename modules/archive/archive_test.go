package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

var ctx = context.Background()

func s(v string) cty.Value { return cty.StringVal(v) }

type entry struct {
	name, body string
	mode       int64
	dir        bool
}

// makeTarGz writes a .tar.gz into dir and returns its path and sha256.
func makeTarGz(t *testing.T, dir, name string, es []entry) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Uid: 1234, Gid: 1234}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if !e.dir {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return write(t, dir, name, buf.Bytes())
}

func makeZip(t *testing.T, dir, name string, es []entry) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return write(t, dir, name, buf.Bytes())
}

func write(t *testing.T, dir, name string, b []byte) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return p, hex.EncodeToString(sum[:])
}

func config(t *testing.T, base string, vals map[string]cty.Value) resource.Config {
	t.Helper()
	typ, ok := resource.Lookup("archive")
	if !ok {
		t.Fatal("archive not registered")
	}
	c := resource.Config{Name: "t", BaseDir: base, Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
	for _, f := range typ.Fields {
		v, ok := vals[f.Name]
		switch {
		case ok:
		case f.Default != cty.NilVal:
			v = f.Default
		default:
			v = cty.NullVal(f.Type)
		}
		c.Values[f.Name] = v
	}
	for k := range vals {
		if _, ok := c.Values[k]; !ok {
			t.Fatalf("no field %q", k)
		}
	}
	return c
}

func mustNew(t *testing.T, base string, vals map[string]cty.Value) *Archive {
	t.Helper()
	r, err := New(config(t, base, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Archive)
}

var files = []entry{
	{name: "app-1.0/", dir: true, mode: 0o755},
	{name: "app-1.0/bin/", dir: true, mode: 0o755},
	{name: "app-1.0/bin/app", body: "#!/bin/sh\necho app\n", mode: 0o755},
	{name: "app-1.0/README", body: "it's $(not) run\n", mode: 0o644},
}

func TestNew(t *testing.T) {
	base := t.TempDir()
	_, sum := makeTarGz(t, base, "app.tar.gz", files)
	_, zsum := makeZip(t, base, "app.zip", files[2:])
	ok := func(kv map[string]cty.Value) map[string]cty.Value {
		m := map[string]cty.Value{"source": s("app.tar.gz"), "sha256": s(sum), "destination": s("/opt/app")}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
	}{
		{"minimal", ok(nil), ""},
		{"upper-case sum", ok(map[string]cty.Value{"sha256": s(strings.ToUpper(sum))}), ""},
		{"all", ok(map[string]cty.Value{"creates": s("/opt/app/bin/app"), "owner": s("www-data"), "group": s("33"), "strip_components": resource.Num(1)}), ""},
		{"zip", ok(map[string]cty.Value{"source": s("app.zip"), "sha256": s(zsum)}), ""},
		{"checksum mismatch", ok(map[string]cty.Value{"sha256": s(strings.Repeat("0", 64))}), "sha256"},
		{"short sum", ok(map[string]cty.Value{"sha256": s("abc")}), "sha256"},
		{"missing source", ok(map[string]cty.Value{"source": s("nope.tar.gz")}), "source"},
		{"unknown extension", ok(map[string]cty.Value{"source": s("app.rar")}), "source"},
		{"directory source", ok(map[string]cty.Value{"source": s(".tar")}), "source"},
		{"relative destination", ok(map[string]cty.Value{"destination": s("opt/app")}), "destination"},
		{"root destination", ok(map[string]cty.Value{"destination": s("/")}), "destination"},
		{"unclean destination", ok(map[string]cty.Value{"destination": s("/opt/../app")}), "destination"},
		{"relative creates", ok(map[string]cty.Value{"creates": s("bin/app")}), "creates"},
		{"owner with colon", ok(map[string]cty.Value{"owner": s("a:b")}), "owner"},
		{"group dash", ok(map[string]cty.Value{"group": s("-x")}), "group"},
		{"negative strip", ok(map[string]cty.Value{"strip_components": resource.Num(-1)}), "strip_components"},
		{"strip zip", ok(map[string]cty.Value{"source": s("app.zip"), "sha256": s(zsum), "strip_components": resource.Num(1)}), "strip_components"},
	}
	must(t, os.Mkdir(filepath.Join(base, ".tar"), 0o755))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, base, tt.vals))
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("want an error on %q, got %v", tt.field, err)
			}
			t.Log(err)
		})
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]string{
		"a.tar": "tar", "a.tar.gz": "tar.gz", "A.TGZ": "tar.gz", "a.tar.xz": "tar.xz", "a.txz": "tar.xz",
		"a.tar.bz2": "tar.bz2", "a.tbz2": "tar.bz2", "a.zip": "zip", "a.gz": "", "a.tar.zst": "", "tar": "",
	} {
		f, ok := formatOf(name)
		if f.name != want || ok != (want != "") {
			t.Errorf("formatOf(%q) = %q, %v; want %q", name, f.name, ok, want)
		}
	}
}

func TestPlan(t *testing.T) {
	base := t.TempDir()
	_, sum := makeTarGz(t, base, "app.tar.gz", files)
	a := mustNew(t, base, map[string]cty.Value{"source": s("app.tar.gz"), "sha256": s(sum), "destination": s("/opt/app")})
	tests := []struct {
		out    string
		action resource.Action
		n      int // changes
		err    string
	}{
		{"dest=none\ndone=0\n", resource.Create, 2, ""},
		{"dest=dir\ndone=0\n", resource.Update, 1, ""},
		{"dest=dir\ndone=1\n", resource.NoOp, 0, ""},
		{"dest=none\ndone=1\n", resource.NoOp, 0, ""}, // creates elsewhere
		{"dest=dir\ndone=0\nmissing=gzip\n", resource.Update, 2, ""},
		{"dest=other\ndone=0\n", 0, 0, "not a directory"},
		{"dest=dir\n", 0, 0, "unreadable"},
		{"dest=dir\ndone=0\nhello\n", 0, 0, "unreadable"},
	}
	for _, tt := range tests {
		d, err := a.Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.out, err, tt.err)
			}
			continue
		}
		if err != nil || d.Action != tt.action || len(d.Changes) != tt.n {
			t.Errorf("%q: %+v, %v; want %v with %d changes", tt.out, d, err, tt.action, tt.n)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func runProbe(t *testing.T, h resource.Runner, a *Archive) *resource.Diff {
	t.Helper()
	res, err := h.Run(ctx, "LC_ALL=C; export LC_ALL\n(\n"+a.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote on stderr: %s", res.Stderr)
	}
	d, err := a.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return d
}

func run(t *testing.T, h resource.Runner, cmd string) string {
	t.Helper()
	res, err := h.Run(ctx, cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(cmd); err != nil {
		t.Fatal(err)
	}
	return string(res.Stdout)
}

// TestZipLocal unpacks a zip on the controller (which has unzip; the fleet
// boards do not).
func TestZipLocal(t *testing.T) {
	if _, err := os.Stat("/usr/bin/unzip"); err != nil {
		t.Skip("no unzip on this machine")
	}
	base := t.TempDir()
	_, sum := makeZip(t, base, "app.zip", files[2:])
	dest := filepath.Join(t.TempDir(), "it's a $(dir)", "app")
	a := mustNew(t, base, map[string]cty.Value{"source": s("app.zip"), "sha256": s(sum), "destination": s(dest)})
	h := transport.NewLocal()
	d := runProbe(t, h, a)
	if d.Action != resource.Create {
		t.Fatalf("plan: %+v", d)
	}
	must(t, a.Apply(ctx, h, d))
	b, err := os.ReadFile(filepath.Join(dest, "app-1.0/README"))
	if err != nil || string(b) != files[3].body {
		t.Fatalf("README = %q, %v", b, err)
	}
	if d := runProbe(t, h, a); !d.Empty() {
		t.Fatalf("second plan: %+v", d)
	}
}

// host connects to h2 and gives a scratch directory, removed at the end.
func host(t *testing.T) (resource.Runner, string) {
	t.Helper()
	conn := fleettest.Dial(t, "h2")
	var b [6]byte
	_, _ = rand.Read(b[:])
	dir := "/tmp/pinery-test-archive-" + hex.EncodeToString(b[:])
	run(t, conn, "mkdir -m 0755 -- "+dir)
	t.Cleanup(func() { _, _ = conn.Run(context.Background(), "rm -rf -- "+dir, nil) })
	return conn, dir
}

func TestFleetTarGz(t *testing.T) {
	h, dir := host(t)
	base := t.TempDir()
	_, sum := makeTarGz(t, base, "app-1.0.tar.gz", files)
	dest := dir + "/opt/my app"
	a := mustNew(t, base, map[string]cty.Value{"source": s("app-1.0.tar.gz"), "sha256": s(sum), "destination": s(dest), "owner": s("nobody")})
	d := runProbe(t, h, a)
	if d.Action != resource.Create {
		t.Fatalf("plan: %+v", d)
	}
	t.Logf("plan: %+v", d.Changes)
	must(t, a.Apply(ctx, h, d))
	got := run(t, h, "cd "+q(dest)+" && find . -printf '%p %m %u:%g\\n' | sort && cat app-1.0/README && ./app-1.0/bin/app")
	want := `. 755 nobody:root
./.pinery-archive-` + sum[:12] + ` 644 root:root
./app-1.0 755 nobody:root
./app-1.0/README 644 nobody:root
./app-1.0/bin 755 nobody:root
./app-1.0/bin/app 755 nobody:root
it's $(not) run
app
`
	if got != want {
		t.Fatalf("unpacked:\n%s\nwant:\n%s", got, want)
	}
	if d := runProbe(t, h, a); !d.Empty() {
		t.Fatalf("second plan: %+v", d)
	}
	if left := run(t, h, "ls -A "+q(dir+"/opt")); left != "my app\n" {
		t.Fatalf("left beside the destination: %q", left)
	}

	// Version 2 into the existing directory, stripped, with creates: merged.
	files2 := []entry{
		{name: "app-2.0/bin/app", body: "#!/bin/sh\necho app2\n", mode: 0o755},
		{name: "app-2.0/NEW", body: "new\n", mode: 0o600},
	}
	_, sum2 := makeTarGz(t, base, "app-2.0.tgz", files2)
	a2 := mustNew(t, base, map[string]cty.Value{"source": s("app-2.0.tgz"), "sha256": s(sum2), "destination": s(dest + "/app-1.0"), "strip_components": resource.Num(1), "creates": s(dest + "/app-1.0/NEW")})
	d = runProbe(t, h, a2)
	if d.Action != resource.Update {
		t.Fatalf("plan: %+v", d)
	}
	must(t, a2.Apply(ctx, h, d))
	got = run(t, h, "cd "+q(dest+"/app-1.0")+" && ls -A && ./bin/app && stat -c '%a %U' NEW .")
	if got != "NEW\nREADME\nbin\napp2\n600 root\n755 nobody\n" {
		t.Fatalf("after the merge: %q", got)
	}
	if d := runProbe(t, h, a2); !d.Empty() {
		t.Fatalf("second plan: %+v", d)
	}

	// creates that the archive does not make is an error.
	a3 := mustNew(t, base, map[string]cty.Value{"source": s("app-2.0.tgz"), "sha256": s(sum2), "destination": s(dir + "/v3"), "creates": s(dir + "/v3/bin/app")})
	err := a3.Apply(ctx, h, runProbe(t, h, a3))
	if err == nil || !strings.Contains(err.Error(), "still does not exist") {
		t.Fatalf("apply with a wrong creates: %v", err)
	}
	t.Log(err)
}

func TestFleetRefused(t *testing.T) {
	h, dir := host(t)
	base := t.TempDir()
	p, sum := makeTarGz(t, base, "app.tar.gz", files)

	// At plan time, on the controller: the file is not the one expected.
	other := strings.Repeat("ab", 32)
	_, err := New(config(t, base, map[string]cty.Value{"source": s("app.tar.gz"), "sha256": s(other), "destination": s(dir + "/x")}))
	var fe *resource.FieldError
	if !errors.As(err, &fe) || fe.Field != "sha256" || !strings.Contains(err.Error(), "set sha256 = \""+sum+"\"") {
		t.Fatalf("mismatch at plan time: %v", err)
	}

	// On the target: the bytes streamed are not those planned (the file
	// changed after the plan, one byte flipped).
	dest := dir + "/app"
	a := mustNew(t, base, map[string]cty.Value{"source": s("app.tar.gz"), "sha256": s(sum), "destination": s(dest)})
	d := runProbe(t, h, a)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	must(t, os.WriteFile(p, b, 0o644))
	err = a.Apply(ctx, h, d)
	if err == nil || !strings.Contains(err.Error(), "arrived with another checksum") {
		t.Fatalf("corrupted stream: %v", err)
	}
	t.Log(err)
	if left := run(t, h, "ls -A "+q(dir)); left != "" {
		t.Fatalf("left behind: %q", left)
	}

	// A zip needs unzip, which the fleet boards lack: the plan says so and
	// the apply fails clearly, touching nothing.
	_, zsum := makeZip(t, base, "app.zip", files[2:])
	z := mustNew(t, base, map[string]cty.Value{"source": s("app.zip"), "sha256": s(zsum), "destination": s(dest)})
	d = runProbe(t, h, z)
	if run(t, h, "command -v unzip || :") != "" {
		t.Skip("h2 has unzip")
	}
	if len(d.Changes) != 3 || !strings.Contains(d.Changes[2].New, "unzip (not installed now") {
		t.Fatalf("zip plan: %+v", d.Changes)
	}
	err = z.Apply(ctx, h, d)
	if err == nil || !strings.Contains(err.Error(), "needs unzip on the target") {
		t.Fatalf("zip apply: %v", err)
	}
	t.Log(err)
	if left := run(t, h, "ls -A "+q(dir)); left != "" {
		t.Fatalf("left behind: %q", left)
	}
}

func q(p string) string { return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'" }
