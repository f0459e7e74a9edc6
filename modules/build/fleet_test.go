package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// These tests build testdata/hello on real boards of the test fleet
// (PINERY_FLEET): on h4, arm64 under qemu-user, and on h1, amd64. The
// first one installs gcc there, which takes minutes under qemu: run them
// with a -timeout of 30m or more.

// applyTimeout bounds one apply: a first build installs the compiler.
const applyTimeout = 20 * time.Minute

// fleetBuild is one build under test on one host, cleaned up afterwards.
type fleetBuild struct {
	t    *testing.T
	h    transport.Host
	base string // the site directory: source and output live here
	name string // the build's name, unique per run
	pkg  string // the Debian package it makes
	vals map[string]cty.Value
}

func newFleetBuild(t *testing.T, host string) *fleetBuild {
	h := fleettest.Dial(t, host)
	var r [4]byte
	_, _ = rand.Read(r[:])
	f := &fleetBuild{t: t, h: h, base: t.TempDir(), name: "ptest-hello-" + hex.EncodeToString(r[:]), pkg: "pinery-build-test-hello"}
	if err := os.CopyFS(filepath.Join(f.base, "hello"), os.DirFS("testdata/hello")); err != nil {
		t.Fatal(err)
	}
	f.vals = map[string]cty.Value{
		"name": str(f.name), "source_dir": str("hello"),
		"build_depends": strs("gcc", "libc6-dev", "make"),
		"script":        str("make -j\"$JOBS\"\nmake install DESTDIR=\"$DESTDIR\" PREFIX=/usr\n"),
		"artifacts":     strs("usr/bin/*"),
		"deb_name":      str(f.pkg), "deb_version": str("1.0-1"), "deb_maintainer": str("Pinery Tests <tests@example.org>"),
		"deb_depends": strs("libc6"), "deb_conffiles": strs("/etc/hello.conf"),
		"deb_scripts": cty.MapVal(map[string]cty.Value{"postinst": str("echo configured >/var/tmp/" + f.name + ".postinst\n")}),
	}
	t.Cleanup(func() {
		_, _ = h.Run(context.Background(), fmt.Sprintf("dpkg -P %s >/dev/null 2>&1; rm -rf -- %s /var/tmp/%s.postinst /tmp/%s.deb",
			f.pkg, shellescape.Quote(buildsDir+"/"+f.name), f.name, f.name), nil)
	})
	return f
}

func (f *fleetBuild) resource(kv ...any) *Build {
	f.t.Helper()
	return newBuild(f.t, f.base, with(f.vals, kv...))
}

func (f *fleetBuild) plan(b *Build) *resource.Diff {
	f.t.Helper()
	return resourcetest.Plan(f.t, f.h, b)
}

// apply applies the plan, logs how long it took and returns the error.
func (f *fleetBuild) apply(b *Build, d *resource.Diff, what string) error {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	start := time.Now()
	err := b.Apply(ctx, f.h, d)
	f.t.Logf("%s: apply took %v", what, time.Since(start).Round(time.Millisecond))
	return err
}

// converge plans and applies the build with the test's fields changed by
// kv, and checks that the next plan (of a fresh instance, as the next run
// makes) is empty.
func (f *fleetBuild) converge(what string, kv ...any) *resource.Diff {
	f.t.Helper()
	b := f.resource(kv...)
	d := f.plan(b)
	if d.Empty() {
		f.t.Fatalf("%s: the plan is empty", what)
	}
	f.t.Logf("%s: plan %s %v", what, d.Action.Symbol(), d.Changes)
	if err := f.apply(b, d, what); err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
	if again := f.plan(f.resource(kv...)); !again.Empty() {
		f.t.Fatalf("%s: not converged: %+v", what, again.Changes)
	}
	return d
}

// install copies the .deb to the host, installs it and runs hello.
func (f *fleetBuild) install(deb string) string {
	f.t.Helper()
	data, err := os.ReadFile(deb)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.h.Run(context.Background(), fmt.Sprintf("cat >/tmp/%[1]s.deb && dpkg -i /tmp/%[1]s.deb >/dev/null && hello", f.name), bytes.NewReader(data))
	if err == nil {
		err = res.Err("dpkg -i and run hello")
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return string(res.Stdout)
}

// checkDeb reads the .deb back: its Architecture, and that /usr/bin/hello
// in it is an ELF for machine.
func checkDeb(t *testing.T, p, arch string, machine elf.Machine) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	ar := arMembers(t, data)
	control := untarGz(t, ar["control.tar.gz"])["./control"].body
	if !strings.Contains(control, "\nArchitecture: "+arch+"\n") || !strings.Contains(control, "Depends: libc6\n") {
		t.Errorf("control of %s:\n%s", p, control)
	}
	if got := untarGz(t, ar["control.tar.gz"])["./conffiles"].body; got != "/etc/hello.conf\n" {
		t.Errorf("conffiles %q", got)
	}
	hello, ok := untarGz(t, ar["data.tar.gz"])["./usr/bin/hello"]
	if !ok || hello.hdr.Mode != 0o755 || hello.hdr.Uname != "root" {
		t.Fatalf("/usr/bin/hello in the package: %+v", hello.hdr)
	}
	checkELF(t, []byte(hello.body), machine)
}

func checkELF(t *testing.T, data []byte, machine elf.Machine) {
	t.Helper()
	e, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	if e.Machine != machine {
		t.Errorf("ELF machine %v, want %v", e.Machine, machine)
	}
}

// TestFleetBuildArm64 is the story on the arm64 board: build,
// package, install and run; an unchanged build does nothing; an edit
// rebuilds; a new version only repackages; a lost output directory is
// collected again; a failing script shows its log.
func TestFleetBuildArm64(t *testing.T) {
	f := newFleetBuild(t, "h4")
	out := filepath.Join(f.base, ".pinery", "build", f.name)
	deb := filepath.Join(out, f.pkg+"_1.0-1_arm64.deb")

	d := f.converge("first build")
	if d.Action != resource.Create || !d.Private.(*Private).Build || d.Changes[0].Field != "build" {
		t.Fatalf("first plan: %+v", d)
	}
	checkDeb(t, deb, "arm64", elf.EM_AARCH64)
	artifact, err := os.ReadFile(filepath.Join(out, "arm64", "usr", "bin", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	checkELF(t, artifact, elf.EM_AARCH64)
	if got := f.install(deb); got != "hello from pinery\n" {
		t.Fatalf("hello printed %q", got)
	}
	if got := resourcetest.Run(t, f.h, "cat /var/tmp/"+f.name+".postinst; cat /etc/hello.conf"); got != "configured\ngreeting = hello\n" {
		t.Fatalf("postinst or conffile: %q", got)
	}
	if log, err := os.ReadFile(filepath.Join(out, f.name+"_arm64.log")); err != nil || !strings.Contains(string(log), "==> pinery: done") {
		t.Fatalf("log on the controller: %v\n%s", err, log)
	}

	// Unchanged: nothing to do, on the builder or here.
	if d := f.plan(f.resource()); !d.Empty() {
		t.Fatalf("second plan: %+v", d.Changes)
	}

	// An edit of the source rebuilds.
	write(t, filepath.Join(f.base, "hello", "hello.c"), strings.Replace(mustRead(t, "testdata/hello/hello.c"), `"hello from pinery"`, `"hello again"`, 1), 0o644)
	d = f.converge("rebuild after an edit")
	if d.Action != resource.Update || !d.Private.(*Private).Build || d.Changes[0].Field != "source" {
		t.Fatalf("plan after an edit: %+v", d)
	}
	if got := f.install(deb); got != "hello again\n" {
		t.Fatalf("hello printed %q after the rebuild", got)
	}

	// A new version repackages what the builder kept, without building.
	b := f.resource("deb_version", str("1.1-1"))
	d = f.plan(b)
	if d.Private.(*Private).Build || fmt.Sprint(d.Changes[0]) != "{deb_version 1.0-1 1.1-1 false}" {
		t.Fatalf("plan of a new version: %+v", d)
	}
	t.Logf("repackage: plan %s %v", d.Action.Symbol(), d.Changes)
	if err := f.apply(b, d, "repackage"); err != nil {
		t.Fatal(err)
	}
	deb11 := filepath.Join(out, f.pkg+"_1.1-1_arm64.deb")
	checkDeb(t, deb11, "arm64", elf.EM_AARCH64)
	if _, err := os.Stat(deb); !os.IsNotExist(err) {
		t.Errorf("the 1.0 package was left beside 1.1: %v", err)
	}
	f.vals["deb_version"] = str("1.1-1")

	// A fresh checkout of the site (no output directory): collected again.
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	d = f.converge("collect again")
	if d.Action != resource.Create || d.Private.(*Private).Build {
		t.Fatalf("plan without the output: %+v", d)
	}
	checkDeb(t, deb11, "arm64", elf.EM_AARCH64)

	// A failing script fails with the end of its log.
	b = f.resource("script", str("echo compiling...\necho 'hello.c:1: error: it broke' >&2\nexit 3\n"))
	d = f.plan(b)
	err = f.apply(b, d, "failing script")
	if err == nil {
		t.Fatal("a failing script did not fail the build")
	}
	for _, want := range []string{"the script failed", "compiling...", "hello.c:1: error: it broke", "exit status 3",
		buildsDir + "/" + f.name + "/build.log", filepath.Join(out, f.name+"_arm64.log")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	t.Logf("failing script, as reported:\n%v", err)
	checkDeb(t, deb11, "arm64", elf.EM_AARCH64) // the last good package stays
	if d := f.plan(b); d.Empty() || !d.Private.(*Private).Build {
		t.Fatalf("after a failed build the next plan must build again: %+v", d)
	}
}

// TestFleetBuildAmd64 builds the same recipe on h1 from an archive the
// controller serves itself (the board never reaches the URL), then from a
// git commit.
func TestFleetBuildAmd64(t *testing.T) {
	f := newFleetBuild(t, "h1")
	archive := helloTarGz(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(archive) }))
	defer srv.Close()
	sum := sha256.Sum256(archive)
	f.vals = with(f.vals, "source_dir", nil, "source_url", str(srv.URL+"/hello-1.0.tar.gz"), "source_sha256", str(hex.EncodeToString(sum[:])))
	f.converge("build from an archive")
	deb := filepath.Join(f.base, ".pinery", "build", f.name, f.pkg+"_1.0-1_amd64.deb")
	checkDeb(t, deb, "amd64", elf.EM_X86_64)
	if got := f.install(deb); got != "hello from pinery\n" {
		t.Fatalf("hello printed %q", got)
	}

	// The same source from a git commit, in a repository on the board.
	repo := "/tmp/" + f.name + ".git"
	t.Cleanup(func() { _, _ = f.h.Run(context.Background(), "rm -rf -- "+repo+" "+repo+".work", nil) })
	resourcetest.Run(t, f.h, `command -v git >/dev/null || { apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null; }`)
	var cmds strings.Builder
	fmt.Fprintf(&cmds, "set -e\nw=%s.work\nmkdir -p $w\ncd $w\ngit init -q\n", repo)
	for _, name := range []string{"hello.c", "Makefile", "hello.conf"} {
		fmt.Fprintf(&cmds, "printf '%%s' %s >%s\n", shellescape.Quote(mustRead(t, "testdata/hello/"+name)), name)
	}
	fmt.Fprintf(&cmds, "git add . && git -c user.name=t -c user.email=t@example.org commit -q -m hello\ngit clone -q --bare . %s\ngit rev-parse HEAD\n", repo)
	commit := strings.TrimSpace(resourcetest.Run(t, f.h, cmds.String()))
	f.vals = with(f.vals, "source_url", nil, "source_sha256", nil, "source_git", str(repo), "source_ref", str(commit))
	d := f.converge("build from git")
	if d.Changes[0].Field != "source" || !strings.HasPrefix(d.Changes[0].New, "git:") {
		t.Fatalf("plan of the git source: %+v", d.Changes)
	}
	checkDeb(t, deb, "amd64", elf.EM_X86_64)
	log := mustRead(t, filepath.Join(f.base, ".pinery", "build", f.name, f.name+"_amd64.log"))
	if !strings.Contains(log, "fetching commit "+commit) || !strings.Contains(log, "==> pinery: done") {
		t.Fatalf("log of the git build:\n%s", log)
	}
	t.Logf("log of the git build:\n%s", log)
}

// helloTarGz is testdata/hello as a release archive: hello-1.0/...
func helloTarGz(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	_ = tw.WriteHeader(&tar.Header{Name: "hello-1.0/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Now()})
	for _, name := range []string{"hello.c", "Makefile", "hello.conf"} {
		body := mustRead(t, "testdata/hello/"+name)
		_ = tw.WriteHeader(&tar.Header{Name: "hello-1.0/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Now()})
		_, _ = tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
