package aptsource

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// base is a valid source; tests change one field of it.
func base(key string) map[string]cty.Value {
	return map[string]cty.Value{
		"uris":        list("http://deb.debian.org/debian"),
		"suites":      list("bookworm-updates"),
		"components":  list("main"),
		"signing_key": str(key),
	}
}

func TestNewValidation(t *testing.T) {
	k := newTestKey(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.gpg"), k.secret, 0o600); err != nil {
		t.Fatal(err)
	}
	with := func(kv ...any) map[string]cty.Value {
		m := base(k.publicArmored)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1].(cty.Value)
		}
		return m
	}
	opts := func(kv ...string) cty.Value {
		m := map[string]cty.Value{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = str(kv[i+1])
		}
		return cty.MapVal(m)
	}
	tests := []struct {
		name, field, want string
		vals              map[string]cty.Value
	}{
		{"bad name", "name", "letters, digits", with("name", str("my repo"))},
		{"dot name", "name", "do not start with .", with("name", str(".hidden"))},
		{"slash name", "name", "cannot name", with("name", str("a/b"))},
		{"bad state", "state", `not "gone"`, with("state", str("gone"))},
		{"no uris", "uris", "required", with("uris", nil)},
		{"empty uris", "uris", "required", with("uris", list())},
		{"one-line entry", "uris", "white space", with("uris", list("deb http://deb.debian.org/debian bookworm main"))},
		{"no scheme", "uris", "no scheme", with("uris", list("deb.debian.org/debian"))},
		{"no host", "uris", "no host", with("uris", list("http:/debian"))},
		{"credentials", "uris", "credentials", with("uris", list("https://me:s3cret@apt.example.org/debian"))},
		{"duplicate uri", "uris", "twice", with("uris", list("http://a.example/d", "http://a.example/d"))},
		{"no suites", "suites", "required", with("suites", nil)},
		{"mixed flat", "suites", "mixes flat", with("suites", list("bookworm", "./"))},
		{"flat with components", "components", "must be empty", with("suites", list("./"))},
		{"no components", "components", "is required", with("components", nil)},
		{"empty component", "components", "empty string", with("components", list(""))},
		{"bad type", "types", `not "rpm"`, with("types", list("rpm"))},
		{"no types", "types", "must not be empty", with("types", list())},
		{"bad arch", "architectures", "dpkg architecture", with("architectures", list("x86_64"))},
		{"no key", "signing_key", "set one of", with("signing_key", nil)},
		{"two keys", "signed_by", "not both signing_key and signed_by", with("signed_by", str("/usr/share/keyrings/x.gpg"))},
		{"relative signed_by", "signed_by", "absolute", with("signing_key", nil, "signed_by", str("keys/x.gpg"))},
		{"pinery's own keyring", "signed_by", "pinery keeps", with("signing_key", nil, "signed_by", str("/etc/apt/keyrings/pinery-x.asc"))},
		{"secret armoured", "signing_key", "SECRET", with("signing_key", str(k.secretArmored))},
		{"secret file", "signing_key_source", "SECRET", with("signing_key", nil, "signing_key_source", str("secret.gpg"))},
		{"missing file", "signing_key_source", "no such file", with("signing_key", nil, "signing_key_source", str("nope.gpg"))},
		{"binary as text", "signing_key", "not an ASCII-armoured", with("signing_key", str("mQINBGPL"))},
		{"managed option", "options", "written from signing_key", with("options", opts("signed-by", "/x"))},
		{"own field option", "options", "written from architectures", with("options", opts("Architectures", "amd64"))},
		{"misspelt option", "options", `"Check-Valid-Untill" is not an apt source option`, with("options", opts("Check-Valid-Untill", "no"))},
		{"option twice", "options", "twice", with("options", opts("trusted", "yes", "Trusted", "yes"))},
		{"option line break", "options", "one line", with("options", opts("Check-Valid-Until", "no\nTrusted: yes"))},
		{"empty option", "options", "empty value", with("options", opts("By-Hash", ""))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, dir, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %v, want field %s with %q", err, tt.field, tt.want)
			}
			// Neither the password nor any key material is ever echoed.
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), k.secretArmored[40:80]) {
				t.Fatalf("the error quotes a secret: %v", err)
			}
		})
	}

	t.Run("absent needs nothing else", func(t *testing.T) {
		s := newSource(t, dir, map[string]cty.Value{"state": str("absent")})
		if !s.absent || s.name != "test" {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("absent ignores the rest", func(t *testing.T) {
		if _, err := New(config(t, dir, with("state", str("absent"), "signing_key_source", str("nope.gpg")))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("flat repository", func(t *testing.T) {
		newSource(t, dir, with("suites", list("./"), "components", nil))
	})
	t.Run("name from the field", func(t *testing.T) {
		s := newSource(t, dir, with("name", str("repo_1.2-x")))
		if s.sourcesPath() != "/etc/apt/sources.list.d/repo_1.2-x.sources" || s.keyPath("asc") != "/etc/apt/keyrings/pinery-repo_1.2-x.asc" {
			t.Fatalf("paths %s %s", s.sourcesPath(), s.keyPath("asc"))
		}
	})
}

func TestKeys(t *testing.T) {
	k := newTestKey(t)
	other := newTestKey(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	kbx := append([]byte{0, 0, 0, 32, 1, 1, 0, 0, 'K', 'B', 'X', 'f'}, make([]byte, 20)...)
	tests := []struct {
		name  string
		field string
		value string
		ext   string
		fprs  string
		err   string
	}{
		{"armoured text", "signing_key", k.publicArmored, "asc", k.fingerprint, ""},
		{"armoured after a comment", "signing_key", "Our repository key:\n\n" + k.publicArmored, "asc", k.fingerprint, ""},
		{"two blocks joined", "signing_key", k.publicArmored + other.publicArmored, "asc", k.fingerprint + ", " + other.fingerprint, ""},
		{"binary file", "signing_key_source", write("k.gpg", k.public), "gpg", k.fingerprint, ""},
		{"armoured file", "signing_key_source", write("k.asc", []byte(k.publicArmored)), "asc", k.fingerprint, ""},
		{"public then secret block", "signing_key", k.publicArmored + k.secretArmored, "", "", "SECRET"},
		{"secret packets in a public block", "signing_key", string(armored(t, publicBlock, k.secret)), "", "", "SECRET"},
		{"secret binary", "signing_key_source", write("s.gpg", k.secret), "", "", "SECRET"},
		{"keybox", "signing_key_source", write("pubring.kbx", kbx), "", "", "keybox"},
		{"signature block", "signing_key", string(armored(t, "PGP SIGNATURE", k.public)), "", "", `is a "PGP SIGNATURE"`},
		{"damaged armour", "signing_key", strings.Replace(k.publicArmored, "\n\n", "\n\n!!", 1), "", "", "damaged"},
		{"garbage file", "signing_key_source", write("junk", []byte{0xff, 0x00, 0x13, 0x37}), "", "", "not"},
		{"empty", "signing_key", " \n", "", "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := base("")
			delete(vals, "signing_key")
			vals[tt.field] = str(tt.value)
			r, err := New(config(t, dir, vals))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want an error with %q, got %v", tt.err, err)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := r.(*Source)
			if s.key.ext != tt.ext || s.key.fprs != tt.fprs {
				t.Fatalf("ext %s fingerprints %s, want %s %s", s.key.ext, s.key.fprs, tt.ext, tt.fprs)
			}
			if !strings.Contains(string(s.content), "Signed-By: /etc/apt/keyrings/pinery-test."+tt.ext+"\n") {
				t.Fatalf("Signed-By not the key's path:\n%s", s.content)
			}
			// What goes to the host reads back as the same keys, and a
			// binary key goes byte for byte.
			back, err := parseKey(s.key.data, false)
			if err != nil || back.fprs != tt.fprs || back.ext != tt.ext {
				t.Fatalf("written key reads back as %+v, %v", back, err)
			}
			if tt.ext == "gpg" && string(s.key.data) != string(k.public) {
				t.Fatal("binary key not written byte for byte")
			}
			if tt.ext == "asc" && (strings.Contains(string(s.key.data), "Comment") || !strings.HasPrefix(string(s.key.data), "-----BEGIN PGP PUBLIC KEY BLOCK-----\n")) {
				t.Fatalf("armoured key not canonical:\n%s", s.key.data)
			}
		})
	}
}

func TestRenderGolden(t *testing.T) {
	k := newTestKey(t)
	opts := cty.MapVal(map[string]cty.Value{"check-valid-until": str("no"), "X-Team": str("render"), "PDiffs": str("no")})
	tests := []struct {
		name string
		vals map[string]cty.Value
	}{
		{"minimal", map[string]cty.Value{"uris": list("http://deb.debian.org/debian"), "suites": list("bookworm-updates"),
			"components": list("main"), "signed_by": str("/usr/share/keyrings/debian-archive-keyring.gpg")}},
		{"full", map[string]cty.Value{"uris": list("https://apt.example.org/pinery", "http://mirror.example.org/pinery"),
			"suites": list("bookworm", "bookworm-backports"), "components": list("main", "contrib"), "types": list("deb", "deb-src"),
			"architectures": list("arm64", "amd64"), "signing_key": str(k.publicArmored), "options": opts, "name": str("pinery")}},
		{"flat disabled", map[string]cty.Value{"uris": list("file:/srv/repo"), "suites": list("./"),
			"signed_by": str("/srv/repo/key.gpg"), "enabled": cty.False}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newSource(t, "", tt.vals).content
			golden(t, filepath.Join("testdata", strings.ReplaceAll(tt.name, " ", "-")+".sources"), got)
		})
	}
}
