package aptsource

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport/fleettest"
	"github.com/pinery/pinery/modules/pkg"
)

// The fleet reaches Debian's archive through apt-cacher-ng, so the signed
// repository of these tests is Debian's own, and its keys come from the
// controller's debian-archive-keyring package.
const (
	debianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
	listsPrefix   = "deb.debian.org_debian_dists_bookworm-updates_"
	// A package with no dependencies whose bookworm-updates version is
	// not the one in bookworm: installing that version needs the source.
	testPackage = "libssl-doc"
	// The Debian 12 archive signing key, one of those that sign the suite.
	bookwormKey = "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8"
)

func TestFleetDebianUpdates(t *testing.T) {
	for _, host := range []string{"h1", "h4"} {
		t.Run(host, func(t *testing.T) { fleetDebianUpdates(t, host) })
	}
}

func fleetDebianUpdates(t *testing.T, host string) {
	fleettest.Dir(t)
	keyring, err := os.ReadFile(debianKeyring)
	if err != nil {
		t.Fatalf("the test needs the Debian archive keys on the controller (apt-get install debian-archive-keyring): %v", err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "debian.gpg"), keyring, 0o644); err != nil {
		t.Fatal(err)
	}
	armouredKeys := string(armored(t, publicBlock, keyring))

	h := fleettest.Dial(t, host)
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	name := "pinery-test-" + hex.EncodeToString(rb[:])
	sources := sourcesDir + "/" + name + ".sources"
	conflicting := sourcesDir + "/" + name + "-other.sources"
	asc, gpg := keyringDir+"/pinery-"+name+".asc", keyringDir+"/pinery-"+name+".gpg"
	run := func(cmd string) string { t.Helper(); return resourcetest.Run(t, h, cmd) }
	dropLists := "rm -f -- " + listsDir + "/" + listsPrefix + "*"

	if got := run("grep -rl bookworm-updates /etc/apt/sources.list /etc/apt/sources.list.d/ || :"); got != "" {
		t.Fatalf("another source on %s uses bookworm-updates (%s); this test removes that suite's lists", host, strings.TrimSpace(got))
	}
	// The test owns testPackage on the fleet: it starts and ends without it.
	purge := "if dpkg-query -W " + testPackage + " >/dev/null 2>&1; then DEBIAN_FRONTEND=noninteractive apt-get purge -y -q " + testPackage + " >/dev/null; fi"
	run(purge)
	run(dropLists)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		res, err := h.Run(ctx, purge+"; rm -f -- "+strings.Join([]string{sources, conflicting, asc, gpg}, " ")+"; "+dropLists, nil)
		if err == nil {
			err = res.Err("cleanup")
		}
		if err != nil {
			t.Errorf("cleanup on %s: %v", host, err)
		}
	})

	arch := strings.TrimSpace(run("dpkg --print-architecture"))
	listsTime := func() string { return run("stat -c %y " + listsDir) }
	lists := func() string { return run("ls " + listsDir + " | grep '^" + listsPrefix + "' || :") }
	vals := func(kv ...any) map[string]cty.Value {
		m := map[string]cty.Value{"name": str(name), "uris": list("http://deb.debian.org/debian"),
			"suites": list("bookworm-updates"), "components": list("main")}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(cty.Value)
		}
		return m
	}
	binary := vals("signing_key_source", str("keys/debian.gpg"))
	armoured := vals("signing_key", str(armouredKeys))
	apply := func(r resource.Resource, d *resource.Diff, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return r.Apply(ctx, h, d)
	}

	// 1. The binary keyring from the controller: both files written, this
	// source's lists fetched, the lists directory's time kept.
	start := time.Now()
	before := listsTime()
	d := resourcetest.Converge(t, h, newSource(t, dir, binary))
	t.Logf("%s: create with the binary key: %v", host, time.Since(start).Round(time.Millisecond))
	if d.Action != resource.Create || !strings.Contains(changes(d), bookwormKey) || !strings.Contains(changes(d), "apt-get update") {
		t.Fatalf("first plan: %v %s", d.Action, changes(d))
	}
	if got := run("stat -c '%a %U %G' " + sources + " " + gpg); got != "644 root root\n644 root root\n" {
		t.Fatalf("modes and owners:\n%s", got)
	}
	if got := run("sha256sum <" + gpg); !strings.HasPrefix(got, sha(keyring)) {
		t.Fatal("the binary key was not written byte for byte")
	}
	if got := lists(); !strings.Contains(got, listsPrefix+"InRelease") || !strings.Contains(got, "_main_binary-"+arch+"_Packages") {
		t.Fatalf("the source's lists were not fetched:\n%s", got)
	}
	if after := listsTime(); after != before {
		t.Fatalf("the lists directory's time changed from %s to %s", before, after)
	}

	// The version to pin comes from apt, through the source.
	version := ""
	for _, l := range strings.Split(run("apt-cache madison "+testPackage), "\n") {
		if f := strings.Split(l, "|"); len(f) == 3 && strings.Contains(f[2], " bookworm-updates/main ") {
			version = strings.TrimSpace(f[1])
		}
	}
	if version == "" {
		t.Fatalf("apt-cache madison shows no %s from bookworm-updates", testPackage)
	}

	// 2. The same keys, armoured: written as .asc, the .gpg removed.
	d = resourcetest.Converge(t, h, newSource(t, dir, armoured))
	if !strings.Contains(d.TextDiff, "+Signed-By: "+asc) || !strings.Contains(changes(d), gpg+" → (removed)") {
		t.Fatalf("to armoured: %s\n%s", changes(d), d.TextDiff)
	}
	run("test ! -e " + gpg + " && test -f " + asc)
	sums := run("sha256sum " + sources + " " + asc)

	// 3. A key that arrives damaged changes nothing.
	wrong := newTestKey(t)
	r := newSource(t, dir, vals("signing_key", str(wrong.publicArmored)))
	d = resourcetest.Plan(t, h, r)
	if err := r.Apply(context.Background(), truncating{h}, d); err == nil || !strings.Contains(err.Error(), "arrived incomplete") {
		t.Fatalf("a truncated key: %v", err)
	}
	if got := run("sha256sum " + sources + " " + asc); got != sums {
		t.Fatalf("files changed by a failed write:\n%s\nwant\n%s", got, sums)
	}

	// A key that did not sign the repository: apt refuses, the change is
	// undone, and the next plan shows it again.
	err = apply(r, d, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "NO_PUBKEY") || !strings.Contains(err.Error(), "undone") {
		t.Fatalf("a wrong key: want apt's NO_PUBKEY refusal, got %v", err)
	}
	t.Logf("%s: wrong key refused: %v", host, err)
	if got := run("sha256sum " + sources + " " + asc); got != sums {
		t.Fatalf("files not restored:\n%s\nwant\n%s", got, sums)
	}
	if again := resourcetest.Plan(t, h, r); again.Action != resource.Update || !strings.Contains(changes(again), wrong.fingerprint) {
		t.Fatalf("after a refused apply the plan must show the change again: %v %s", again.Action, changes(again))
	}

	// 4. Another file with the same repository and another Signed-By:
	// apt would refuse every source, so the change is undone.
	run("printf 'Types: deb\\nURIs: http://deb.debian.org/debian\\nSuites: bookworm-updates\\nComponents: main\\nSigned-By: " + debianKeyring + "\\n' >" + conflicting)
	r = newSource(t, dir, vals("signing_key", str(armouredKeys), "architectures", list(arch)))
	err = apply(r, resourcetest.Plan(t, h, r), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "Conflicting values set for option Signed-By") || !strings.Contains(err.Error(), "undone") {
		t.Fatalf("a conflicting source: want apt's refusal, got %v", err)
	}
	if got := run("sha256sum " + sources + " " + asc); got != sums {
		t.Fatalf("files not restored:\n%s\nwant\n%s", got, sums)
	}
	run("rm -f -- " + conflicting)

	// 5. Removed: both files go; the test drops the lists too, so that
	// only the source can offer the pinned version again.
	d = resourcetest.Converge(t, h, newSource(t, dir, map[string]cty.Value{"name": str(name), "state": str("absent")}))
	if d.Action != resource.Delete {
		t.Fatalf("absent: %v %s", d.Action, changes(d))
	}
	run("test ! -e " + sources + " && test ! -e " + asc + " && test ! -e " + gpg)
	run(dropLists)
	if got := run("apt-cache madison " + testPackage); strings.Contains(got, version) {
		t.Fatalf("%s %s is still offered without the source:\n%s", testPackage, version, got)
	}

	// 6. One run, as the engine does it: both planned before either is
	// applied, the package ordered after the source.
	src := newSource(t, dir, armoured)
	pr, err := pkg.New(resourcetest.Config(t, "package", "", map[string]cty.Value{"name": str(testPackage), "version": str(version)}))
	if err != nil {
		t.Fatal(err)
	}
	ds, dp := resourcetest.Plan(t, h, src), resourcetest.Plan(t, h, pr)
	if ds.Action != resource.Create || dp.Action != resource.Create || !strings.Contains(changes(dp), "not in the apt lists yet") {
		t.Fatalf("one run, plans: %s / %s", changes(ds), changes(dp))
	}
	start = time.Now()
	if err := apply(src, ds, time.Minute); err != nil {
		t.Fatalf("apply source: %v", err)
	}
	before = listsTime()
	if err := apply(pr, dp, 10*time.Minute); err != nil {
		t.Fatalf("apply package %s=%s after the source: %v", testPackage, version, err)
	}
	t.Logf("%s: source + pinned package in one run: %v", host, time.Since(start).Round(time.Millisecond))
	if got := run("dpkg-query -W -f='${Version}' " + testPackage); got != version {
		t.Fatalf("dpkg has %s %q, want %q", testPackage, got, version)
	}
	// The package saw the new source and refreshed every list first.
	if listsTime() == before {
		t.Error("the package's apply ran no full apt-get update after the source changed")
	}
	for _, r := range []resource.Resource{src, pr} {
		if d := resourcetest.Plan(t, h, r); !d.Empty() {
			t.Fatalf("not converged after one run: %s", changes(d))
		}
	}

	// 7. Both removed again.
	pr, err = pkg.New(resourcetest.Config(t, "package", "", map[string]cty.Value{"name": str(testPackage), "state": str("purged")}))
	if err != nil {
		t.Fatal(err)
	}
	resourcetest.Converge(t, h, pr)
	resourcetest.Converge(t, h, newSource(t, dir, map[string]cty.Value{"name": str(name), "state": str("absent")}))
	if got := run("ls -A " + sourcesDir + " " + keyringDir + " | grep -c '^\\.pinery-' || :"); got != "0\n" {
		t.Fatalf("temporary files left: %s", got)
	}
}

// truncating drops the last byte of what a command reads on stdin.
type truncating struct{ resource.Runner }

func (tr truncating) Run(ctx context.Context, cmd string, stdin io.Reader) (resource.Result, error) {
	if stdin != nil {
		b, err := io.ReadAll(stdin)
		if err != nil || len(b) == 0 {
			return resource.Result{}, fmt.Errorf("truncating: %v (%d bytes)", err, len(b))
		}
		stdin = bytes.NewReader(b[:len(b)-1])
	}
	return tr.Runner.Run(ctx, cmd, stdin)
}

// changes renders a diff's changes as the plan would, for assertions.
func changes(d *resource.Diff) string {
	var out []string
	for _, c := range d.Changes {
		out = append(out, c.Field+": "+c.Old+" → "+c.New)
	}
	return strings.Join(out, "; ")
}
