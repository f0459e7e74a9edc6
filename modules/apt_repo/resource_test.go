package aptrepo

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
)

func strs(ss ...string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	var vs []cty.Value
	for _, s := range ss {
		vs = append(vs, cty.StringVal(s))
	}
	return cty.ListVal(vs)
}

// resourceVals are an apt_repo block's values: the test key, packages
// relative to base.
func resourceVals(key []byte, path string, pkgs ...string) map[string]cty.Value {
	return map[string]cty.Value{"path": cty.StringVal(path), "suite": cty.StringVal("stable"),
		"packages": strs(pkgs...), "signing_key": cty.StringVal(string(key))}
}

func newAptRepo(t *testing.T, base string, vals map[string]cty.Value) *AptRepo {
	t.Helper()
	r, err := New(resourcetest.Config(t, "apt_repo", base, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*AptRepo)
}

func TestNewValidation(t *testing.T) {
	base := t.TempDir()
	key, pub := aptrepotest.Key(t, aptrepotest.KeyOptions{})
	old, _ := aptrepotest.Key(t, aptrepotest.KeyOptions{Created: time.Now().Add(-48 * time.Hour), Lifetime: 24 * time.Hour})
	debFile(t, base, "hello", "1.0", "amd64")
	debFile(t, base, "hello", "1.1", "amd64")
	debFile(t, base, "hello", "1.0", "i386")
	os.WriteFile(filepath.Join(base, "notes.txt"), []byte("x"), 0o644)
	ok := func(k string, v cty.Value) map[string]cty.Value {
		m := resourceVals(key, "/srv/apt", "hello_1.0_amd64.deb")
		m[k] = v
		return m
	}
	tests := []struct {
		name, field, want string
		vals              map[string]cty.Value
	}{
		{"relative path", "path", "absolute", ok("path", cty.StringVal("srv/apt"))},
		{"root", "path", "not /", ok("path", cty.StringVal("/"))},
		{"unclean", "path", `"/srv/apt"`, ok("path", cty.StringVal("/srv/apt/"))},
		{"suite", "suite", `suite "a/b"`, ok("suite", cty.StringVal("a/b"))},
		{"component", "component", `component ""`, ok("component", cty.StringVal(""))},
		{"arch", "architectures", `architecture "ARM"`, ok("architectures", strs("ARM"))},
		{"arch twice", "architectures", "given twice", ok("architectures", strs("amd64", "amd64"))},
		{"keep", "keep", "from 1 to 1000", ok("keep", resource.Num(0))},
		{"valid_for", "valid_for", `"soon"`, ok("valid_for", cty.StringVal("soon"))},
		{"valid_for minutes", "valid_for", "an hour or more", ok("valid_for", cty.StringVal("10m"))},
		{"public key", "signing_key", "this is a public key", ok("signing_key", cty.StringVal(string(pub)))},
		{"expired key", "signing_key", "expired on", ok("signing_key", cty.StringVal(string(old)))},
		{"garbage key", "signing_key", "not an ASCII-armoured", ok("signing_key", cty.StringVal("hunter2"))},
		{"not a deb", "packages", "notes.txt: not a valid .deb", ok("packages", strs("notes.txt"))},
		{"missing deb", "packages", "no such file", ok("packages", strs("nope.deb"))},
		{"arch not listed", "packages", "is for i386, which is not in architectures", ok("packages", strs("hello_1.0_i386.deb"))},
		{"two versions", "packages", "are both hello (amd64)", ok("packages", strs("hello_1.0_amd64.deb", "hello_1.1_amd64.deb"))},
		{"unknown packages", "packages", "not known until apply", ok("packages", cty.UnknownVal(cty.List(cty.String)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(resourcetest.Config(t, "apt_repo", base, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %v, want field %s with %q", err, tt.field, tt.want)
			}
			// No line of the key's text is quoted.
			for _, line := range strings.Split(tt.vals["signing_key"].AsString(), "\n") {
				if len(line) > 6 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
					t.Fatalf("the error quotes the key: %v", err)
				}
			}
		})
	}
	r := newAptRepo(t, base, ok("valid_for", cty.StringVal("14d")))
	if r.validFor != 14*24*time.Hour || r.settings.Label != "pinery" || r.keep != DefaultKeep || len(r.debs) != 1 {
		t.Errorf("defaults: %+v", r)
	}
}

func TestPlanFromProbe(t *testing.T) {
	base := t.TempDir()
	key, _ := aptrepotest.Key(t, aptrepotest.KeyOptions{})
	_, otherPub := aptrepotest.Key(t, aptrepotest.KeyOptions{})
	debFile(t, base, "hello", "1.1", "amd64")
	debFile(t, base, "common", "2", "all")
	r := newAptRepo(t, base, resourceVals(key, "/srv/apt", "hello_1.1_amd64.deb", "common_2_all.deb"))
	pub := base64.StdEncoding.EncodeToString(r.pubkey)
	id := "20300101T000000Z-0123abcd"
	cur := "current=../snapshots/" + id + "/dists/stable\n"
	hello := r.debs[0]
	release := func(mod func(*suiteSpec)) string {
		spec := r.spec([]*Package{
			{Name: "hello", Version: "1.0", Architecture: "amd64", SHA256: "aa", Filename: "pool/main/h/hello/hello_1.0_amd64.deb"},
			{Name: "old", Version: "3", Architecture: "arm64", SHA256: "bb", Filename: "pool/main/o/old/old_3_arm64.deb"}}, time.Now())
		if mod != nil {
			mod(spec)
		}
		rel, _, _ := spec.release()
		return "release\n" + string(rel.Bytes())
	}
	published := "pkg hello 1.0 amd64 aa pool/main/h/hello/hello_1.0_amd64.deb\npkg old 3 arm64 bb pool/main/o/old/old_3_arm64.deb\n"
	tests := []struct {
		name, out string
		code      int
		action    resource.Action
		changes   string
		err       string
	}{
		{name: "new", out: "state=none\n", action: resource.Create,
			changes: "[{suite  stable/main in /srv/apt false} {package common (all)  2 false} {package hello (amd64)  1.1 false} {pubkey.asc (none) key " + r.key.Fingerprint() + " false} {snapshot  (new, ID known after apply) false}]"},
		{name: "empty dir", out: "state=dir\n", action: resource.Create},
		{name: "changed", out: "state=dir\nsnap=" + id + "/dists/stable\n" + cur + "pubkey=" + pub + "\n" + published + release(nil), action: resource.Update,
			changes: "[{package common (all)  2 false} {package hello (amd64) 1.0 1.1 false} {package old (arm64) 3 (removed) false} {snapshot " + id + " (new, ID known after apply) false}]"},
		{name: "settings", out: "state=dir\n" + cur + "pubkey=" + pub + "\n" + published + release(func(s *suiteSpec) {
			s.Origin, s.Architectures = "elsewhere", []string{"amd64"}
			s.ValidUntil = time.Now().Add(time.Hour)
		}), action: resource.Update,
			changes: "{origin elsewhere pinery false} {architectures amd64 amd64 arm64 armhf false} {valid until"},
		{name: "same version, other file", out: "state=dir\n" + cur + "pubkey=" + pub + "\npkg hello 1.1 amd64 cc pool/main/h/hello/hello_1.1_amd64.deb\n" + release(nil),
			action: resource.Update, changes: "{package hello (amd64) 1.1 (sha256 cc) 1.1 (sha256 " + hello.SHA256[:12] + ") false}"},
		{name: "other key", out: "state=dir\npubkey=" + base64.StdEncoding.EncodeToString(otherPub) + "\n", err: "is signed by key"},
		{name: "not a key", out: "state=dir\npubkey=" + base64.StdEncoding.EncodeToString([]byte("junk")) + "\n", err: "is not an OpenPGP public key"},
		{name: "a file", out: "state=other\n", err: "exists and is not a directory"},
		{name: "another tool's repository", out: "state=dir\nforeign=1\n", err: "it is not a pinery repository"},
		{name: "a directory at dists/stable", out: "state=dir\ncurrent=\n", err: "is not a link to a pinery snapshot"},
		{name: "foreign link", out: "state=dir\ncurrent=/srv/elsewhere\n", err: "is not a link to a pinery snapshot"},
		{name: "bad release", out: "state=dir\n" + cur + "release\nSHA256:\n x\n", err: "malformed line"},
		{name: "bad pkg line", out: "state=dir\npkg a b\n", err: "malformed probe output line"},
		{name: "unknown line", out: "state=dir\nfoo=bar\n", err: "unexpected probe output line"},
		{name: "no state", out: "", err: "no state"},
		{name: "probe failed", out: "state=dir\n", code: 1, err: "probe failed with exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := r.Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.code})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v: %v", d.Action, tt.action, d.Changes)
			}
			if got := fmt.Sprint(d.Changes); !strings.Contains(got, tt.changes) {
				t.Errorf("changes\n got %s\nwant %s", got, tt.changes)
			}
			for _, c := range d.Changes {
				if strings.Contains(c.Old+c.New, "PRIVATE") {
					t.Fatal("the key is in the plan")
				}
			}
		})
	}
}
