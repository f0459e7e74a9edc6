package aptrepo

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
)

func TestPublishAndSwitch(t *testing.T) {
	r := newTestRepo(t)
	r.add(t, "hello 1.0 amd64", "hello 1.0 arm64", "common 1 all")
	first := r.publish(t, PublishOptions{})
	if first.Unchanged || first.Previous != "" || first.Packages != 3 {
		t.Fatalf("first publish: %+v", first)
	}
	if got, _ := os.Readlink(r.path("dists/stable")); got != "../snapshots/"+first.Snapshot+"/dists/stable" {
		t.Fatalf("dists/stable -> %q", got)
	}
	if got, _ := os.Readlink(r.path("snapshots/" + first.Snapshot + "/pool")); got != "../../pool" {
		t.Fatalf("snapshot pool -> %q", got)
	}
	if pub, _ := os.ReadFile(r.path("pubkey.asc")); string(pub) != string(r.pub) {
		t.Fatalf("pubkey.asc is not the key's public key")
	}
	for _, p := range []string{"pool/main/h/hello/hello_1.0_amd64.deb", "pool/main/h/hello/hello_1.0_arm64.deb", "pool/main/c/common/common_1_all.deb"} {
		if !exists(r.path(p)) {
			t.Errorf("%s missing", p)
		}
	}
	r.sound(t)
	out, ok := gpgv(t, r.pub, r.path("dists/stable/InRelease"))
	if !ok {
		t.Fatalf("gpgv refused InRelease:\n%s", out)
	}
	armhf, _ := os.ReadFile(r.path("dists/stable/main/binary-armhf/Packages"))
	if !strings.Contains(string(armhf), "Package: common\n") || strings.Contains(string(armhf), "Package: hello\n") {
		t.Errorf("armhf index:\n%s", armhf)
	}

	// Nothing changed: nothing is published.
	again := r.publish(t, PublishOptions{})
	if !again.Unchanged || again.Snapshot != first.Snapshot {
		t.Fatalf("unchanged publish: %+v", again)
	}

	// A new version replaces the old in the suite; the old snapshot keeps
	// it; the new snapshot's by-hash holds the old indexes too.
	res, err := r.Add("stable", "main", readDeb(t, debFile(t, r.debs, "hello", "1.1", "amd64")), false)
	if err != nil || res.Replaced == nil || res.Replaced.Version != "1.0" {
		t.Fatalf("add 1.1: %+v %v", res, err)
	}
	second := r.publish(t, PublishOptions{})
	if second.Unchanged || second.Previous != first.Snapshot || second.Snapshot <= first.Snapshot {
		t.Fatalf("second publish: %+v", second)
	}
	r.sound(t)
	oldRel, err := os.ReadFile(r.path("snapshots/" + first.Snapshot + "/dists/stable/Release"))
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := ParseRelease(oldRel)
	for _, f := range rel.Files {
		for _, name := range byHashNames(f) {
			if !exists(r.path("dists/stable/" + name)) {
				t.Errorf("the new snapshot lacks the old index %s", name)
			}
		}
	}
	if !exists(r.path("pool/main/h/hello/hello_1.0_amd64.deb")) {
		t.Error("a pool file of a kept snapshot was removed")
	}

	// keep = 1: the old snapshot goes, and the pool files only it listed.
	r.add(t, "hello 1.2 amd64")
	third := r.publish(t, PublishOptions{Keep: 1})
	if !slices.Equal(third.Pruned, []string{first.Snapshot, second.Snapshot}) {
		t.Errorf("pruned %v, want the first two", third.Pruned)
	}
	if !slices.Equal(third.PoolFreed, []string{"pool/main/h/hello/hello_1.0_amd64.deb", "pool/main/h/hello/hello_1.1_amd64.deb"}) {
		t.Errorf("pool freed %v", third.PoolFreed)
	}
	r.sound(t)
	snaps, err := r.Snapshots()
	if err != nil || len(snaps) != 1 || snaps[0].ID != third.Snapshot || !snaps[0].Current || snaps[0].Packages != 3 || snaps[0].Suite != "stable" {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
}

func TestAddRules(t *testing.T) {
	r := newTestRepo(t, "amd64", "arm64")
	hello := readDeb(t, debFile(t, r.debs, "hello", "1.0", "amd64"))
	if _, err := r.Add("stable", "main", hello, false); err != nil {
		t.Fatal(err)
	}
	res, err := r.Add("stable", "main", readDeb(t, hello.file), false)
	if err != nil || !res.Same {
		t.Fatalf("same file again: %+v %v", res, err)
	}
	first := r.publish(t, PublishOptions{})

	// Another build of the same name, version and architecture.
	other := t.TempDir() + "/hello.deb"
	data := aptrepotest.Deb(t, "hello", "1.0", "amd64")
	data = append(data[:len(data):len(data)], "\n"...) // a different file
	if err := os.WriteFile(other, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Add("stable", "main", readDeb(t, other), false); err == nil || !strings.Contains(err.Error(), "give --replace") {
		t.Fatalf("different file: %v", err)
	}
	res, err = r.Add("stable", "main", readDeb(t, other), true)
	if err != nil || res.Replaced == nil {
		t.Fatalf("replace: %+v %v", res, err)
	}
	// The pool file of the published snapshot is never overwritten.
	if !strings.HasPrefix(res.Package.Filename, "pool/main/h/hello/hello_1.0_amd64+") {
		t.Errorf("replacement stored as %s", res.Package.Filename)
	}
	if fileSHA256(r.path("pool/main/h/hello/hello_1.0_amd64.deb")) == res.Package.SHA256 {
		t.Error("the published pool file was overwritten")
	}
	second := r.publish(t, PublishOptions{})
	if second.Snapshot == first.Snapshot {
		t.Fatal("replacement not published")
	}
	r.sound(t)

	for _, tt := range []struct {
		deb               *Package
		suite, comp, want string
	}{
		{readDeb(t, debFile(t, r.debs, "hello", "1.0", "armhf")), "stable", "main", "architecture armhf is not one of the repository's (amd64, arm64)"},
		{hello, "../x", "main", `suite "../x"`},
		{hello, "stable", "a/b", `component "a/b"`},
		{&Package{Name: "x", Version: "1", Architecture: "amd64"}, "stable", "main", "x 1 (amd64) was not read from a file"},
	} {
		if _, err := r.Add(tt.suite, tt.comp, tt.deb, false); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Add(%s, %s, %s) = %v, want error with %q", tt.suite, tt.comp, tt.deb, err, tt.want)
		}
	}
	for file, want := range map[string]string{
		writeTemp(t, "x.deb", []byte("text")): "x.deb: not a valid .deb: no ar archive header",
		"/nonexistent.deb":                    "no such file",
	} {
		if _, err := ReadDebFile(file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadDebFile(%s) = %v, want error with %q", file, err, want)
		}
	}

	removed, err := r.Remove("stable", "main", "hello", "")
	if err != nil || len(removed) != 1 {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if _, err := r.Remove("stable", "main", "hello", ""); err == nil || !strings.Contains(err.Error(), "has no package hello") {
		t.Fatalf("remove again: %v", err)
	}
	if err := r.SetSettings(Settings{Architectures: []string{"amd64"}}); err != nil {
		t.Fatalf("drop an unused architecture: %v", err)
	}
	r.add(t, "tool 1 amd64")
	if err := r.SetSettings(Settings{Architectures: []string{"arm64"}}); err == nil || !strings.Contains(err.Error(), "has tool 1 (amd64)") {
		t.Fatalf("drop a used architecture: %v", err)
	}
}

func TestCreateRefusesForeign(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/pool/main/x", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir, Settings{}, nil); err == nil || !strings.Contains(err.Error(), "has a pool/ directory with files but no pinery-repo.json") {
		t.Fatalf("Create in another tool's repository: %v", err)
	}
}

func TestPublishKeys(t *testing.T) {
	r := newTestRepo(t)
	r.add(t, "hello 1.0 amd64")
	other, _ := testKey(t, aptrepotest.KeyOptions{})
	if _, err := r.Publish("stable", other, PublishOptions{}); err == nil || !strings.Contains(err.Error(), "is not the repository's key") {
		t.Fatalf("other key: %v", err)
	}
	created := time.Now().Add(-48 * time.Hour)
	expired, _ := testKey(t, aptrepotest.KeyOptions{Created: created, Lifetime: 24 * time.Hour})
	if _, err := r.Publish("stable", expired, PublishOptions{}); err == nil || !strings.Contains(err.Error(), "expired on") {
		t.Fatalf("expired key: %v", err)
	}
	if exists(r.path("dists/stable")) {
		t.Fatal("a refused publish published")
	}
	if _, err := r.Publish("stable", r.key, PublishOptions{Keep: -1}); err == nil || !strings.Contains(err.Error(), "keep must be 1 or more") {
		t.Fatalf("keep -1: %v", err)
	}
	if _, err := r.Publish("testing", r.key, PublishOptions{}); err == nil || !strings.Contains(err.Error(), "no component") {
		t.Fatalf("empty suite: %v", err)
	}
	// An empty suite with a named component is published, empty.
	res, err := r.Publish("testing", r.key, PublishOptions{Components: []string{"main"}})
	if err != nil || res.Packages != 0 {
		t.Fatalf("empty suite with component: %+v %v", res, err)
	}
	if problems := Verify(r.Dir, "testing", time.Now()); len(problems) > 0 {
		t.Fatal(problems)
	}
}

func TestValidUntil(t *testing.T) {
	r := newTestRepo(t)
	r.add(t, "hello 1.0 amd64")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) func() time.Time { return func() time.Time { return now.Add(d) } }
	first := r.publish(t, PublishOptions{ValidFor: 10 * 24 * time.Hour, Now: at(0)})
	// Well before half the validity: unchanged.
	if res := r.publish(t, PublishOptions{ValidFor: 10 * 24 * time.Hour, Now: at(4 * 24 * time.Hour)}); !res.Unchanged {
		t.Fatalf("day 4: %+v", res)
	}
	// Past half of it: signed again, with a new Valid-Until.
	res := r.publish(t, PublishOptions{ValidFor: 10 * 24 * time.Hour, Now: at(6 * 24 * time.Hour)})
	if res.Unchanged || res.Snapshot == first.Snapshot {
		t.Fatalf("day 6: %+v", res)
	}
	data, _ := os.ReadFile(r.path("dists/stable/Release"))
	if !strings.Contains(string(data), "Valid-Until: Thu, 17 Jan 2030 00:00:00 UTC\n") {
		t.Errorf("Release:\n%s", data)
	}
	if problems := Verify(r.Dir, "stable", now.Add(17*24*time.Hour)); len(problems) != 1 || !strings.Contains(problems[0], "expired at 2030-01-17T00:00:00Z (Valid-Until)") {
		t.Errorf("Verify after Valid-Until: %q", problems)
	}
	// Dropping Valid-Until is a change too.
	if res := r.publish(t, PublishOptions{Now: at(6*24*time.Hour + time.Minute)}); res.Unchanged {
		t.Fatal("dropping Valid-Until did not publish")
	}
}
