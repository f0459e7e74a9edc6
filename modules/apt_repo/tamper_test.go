package aptrepo

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
)

// tamperCase damages a published repository in one way that apt must
// refuse; Verify must say why, and apt's output must too (the fleet test).
type tamperCase struct {
	name   string
	tamper func(t *testing.T, r *testRepo)
	verify string   // a regular expression matching Verify's problems
	apt    []string // one of these is in apt-get update's output
}

var tamperCases = []tamperCase{
	{"modified Packages", modifyPackages, "dists/stable/main/binary-amd64/Packages: size",
		[]string{"Hash Sum mismatch", "File has unexpected size"}},
	{"unsigned", func(t *testing.T, r *testRepo) {
		for _, f := range []string{"InRelease", "Release.gpg"} {
			if err := os.Remove(r.path("dists/stable/" + f)); err != nil {
				t.Fatal(err)
			}
		}
	}, "the suite is not signed", []string{"is not signed"}},
	{"signed by another key", func(t *testing.T, r *testRepo) {
		other, _ := testKey(t, aptrepotest.KeyOptions{Name: "intruder"})
		resign(t, r, other, time.Now())
	}, `InRelease: signed by key [0-9A-F]{16}, which is not the repository's key \(pubkey.asc\)`, []string{"NO_PUBKEY"}},
	{"expired key", func(t *testing.T, r *testRepo) {
		// Signed while the key was valid; it has expired since.
		created := time.Now().Add(-48 * time.Hour)
		old, pub := testKey(t, aptrepotest.KeyOptions{Name: "expired", Created: created, Lifetime: 24 * time.Hour})
		resign(t, r, old, created.Add(time.Hour))
		if err := os.WriteFile(r.path("pubkey.asc"), pub, 0o644); err != nil {
			t.Fatal(err)
		}
	}, `signed by the repository's key, which expired on \d{4}-\d\d-\d\d`, []string{"EXPKEYSIG"}},
}

// modifyPackages adds a stanza to the amd64 index after signing, in place,
// so that the by-hash names (hard links) change too.
func modifyPackages(t *testing.T, r *testRepo) {
	dir := r.path("dists/stable/main/binary-amd64") + "/"
	plain, err := os.ReadFile(dir + "Packages")
	if err != nil {
		t.Fatal(err)
	}
	plain = append(plain, "\nPackage: evil\nVersion: 6.6.6\nArchitecture: amd64\nFilename: pool/evil.deb\nSize: 1\nSHA256: 00\nDescription: x\n"...)
	gz, _ := gzipBytes(plain)
	xzb, _ := xzBytes(plain)
	for name, data := range map[string][]byte{"Packages": plain, "Packages.gz": gz, "Packages.xz": xzb} {
		if err := os.WriteFile(dir+name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// resign replaces InRelease and Release.gpg with signatures by key.
func resign(t *testing.T, r *testRepo, key *Key, at time.Time) {
	rel, err := os.ReadFile(r.path("dists/stable/Release"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := key.ClearSign(rel, at)
	if err != nil {
		t.Fatal(err)
	}
	det, err := key.DetachSign(rel, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path("dists/stable/InRelease"), in, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path("dists/stable/Release.gpg"), det, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyTampered(t *testing.T) {
	cases := append(tamperCases,
		tamperCase{name: "modified pool file", tamper: func(t *testing.T, r *testRepo) {
			if err := os.WriteFile(r.path("pool/main/h/hello/hello_1.0_amd64.deb"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, verify: `pool/main/h/hello/hello_1.0_amd64.deb: size 1, the index says \d+`},
		tamperCase{name: "missing by-hash", tamper: func(t *testing.T, r *testRepo) {
			rel, _ := os.ReadFile(r.path("dists/stable/Release"))
			parsed, _ := ParseRelease(rel)
			if err := os.Remove(r.path("dists/stable/" + byHashNames(parsed.Files[0])[2])); err != nil {
				t.Fatal(err)
			}
		}, verify: `by-hash/SHA256/[0-9a-f]{64}: missing \(Acquire-By-Hash\)`},
		tamperCase{name: "Release differs from InRelease", tamper: func(t *testing.T, r *testRepo) {
			if err := os.WriteFile(r.path("dists/stable/Release"), []byte("Origin: x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, verify: "Release differs from the text signed in InRelease"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRepo(t)
			r.add(t, "hello 1.0 amd64", "hello 1.0 arm64")
			r.publish(t, PublishOptions{})
			r.sound(t)
			tc.tamper(t, r)
			problems := Verify(r.Dir, "stable", time.Now())
			if !regexp.MustCompile(tc.verify).MatchString(strings.Join(problems, "\n")) {
				t.Fatalf("Verify says\n%s\nwant %q", strings.Join(problems, "\n"), tc.verify)
			}
		})
	}
}
