package aptrepo

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
)

// gpgv runs the real gpgv with pub (armoured) as its only keyring, as apt
// does, and returns its output and whether it accepted the signature.
func gpgv(t *testing.T, pub []byte, args ...string) (string, bool) {
	t.Helper()
	block, err := armor.Decode(bytes.NewReader(pub))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(block.Body)
	keyring := filepath.Join(t.TempDir(), "keyring.gpg")
	if err := os.WriteFile(keyring, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("gpgv", append([]string{"--keyring", keyring}, args...)...).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("gpgv: %v (install the gpgv package)", err)
	}
	return string(out), err == nil
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func testKey(t *testing.T, o aptrepotest.KeyOptions) (*Key, []byte) {
	t.Helper()
	sec, pub := aptrepotest.Key(t, o)
	k, err := ReadKey(sec, []byte(o.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	return k, pub
}

// The text has a line starting with a dash and one with trailing spaces:
// the two things clear-signing must get right.
const signedText = "Origin: x\n- dash\nSpaces: a  \nLast: y\n"

func TestClearSignGpgv(t *testing.T) {
	k, pub := testKey(t, aptrepotest.KeyOptions{})
	signed, err := k.ClearSign([]byte(signedText), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, ok := gpgv(t, pub, writeTemp(t, "InRelease", signed))
	if !ok || !strings.Contains(out, "Good signature") {
		t.Fatalf("gpgv refused InRelease:\n%s\n%s", out, signed)
	}
	if !strings.Contains(string(signed), "\nHash: SHA512\n") {
		t.Errorf("not SHA512:\n%s", signed)
	}
	// A changed text is refused: gpgv really checks.
	tampered := bytes.Replace(signed, []byte("Last: y"), []byte("Last: z"), 1)
	if out, ok := gpgv(t, pub, writeTemp(t, "InRelease", tampered)); ok || !strings.Contains(out, "BAD signature") {
		t.Fatalf("gpgv accepted a changed InRelease:\n%s", out)
	}

	detached, err := k.DetachSign([]byte(signedText), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, ok = gpgv(t, pub, writeTemp(t, "Release.gpg", detached), writeTemp(t, "Release", []byte(signedText)))
	if !ok || !strings.Contains(out, "Good signature") {
		t.Fatalf("gpgv refused Release.gpg:\n%s", out)
	}
}

// The armour of a clear signature ends with "=XXXX", the base64 CRC-24 of
// the signature packets (RFC 4880 6.1), computed here independently.
func TestClearSignChecksumLine(t *testing.T) {
	k, _ := testKey(t, aptrepotest.KeyOptions{})
	signed, err := k.ClearSign([]byte(signedText), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)-----BEGIN PGP SIGNATURE-----\n\n(.*)\n=(....)\n-----END PGP SIGNATURE-----\n$`).FindSubmatch(signed)
	if m == nil {
		t.Fatalf("no checksum line before the END line:\n%s", signed)
	}
	body, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(m[1]), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	crc := uint32(0xB704CE)
	for _, b := range body {
		crc ^= uint32(b) << 16
		for i := 0; i < 8; i++ {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1864CFB
			}
		}
	}
	want := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 16), byte(crc >> 8), byte(crc)})
	if string(m[2]) != want {
		t.Errorf("checksum line =%s, want =%s", m[2], want)
	}
}

func TestReadKey(t *testing.T) {
	sec, pub := aptrepotest.Key(t, aptrepotest.KeyOptions{})
	locked, _ := aptrepotest.Key(t, aptrepotest.KeyOptions{Passphrase: "correct horse"})
	sec2, _ := aptrepotest.Key(t, aptrepotest.KeyOptions{})
	tests := []struct {
		name       string
		in         []byte
		passphrase string
		want       string
	}{
		{"garbage", []byte("hello"), "", "not an ASCII-armoured OpenPGP key"},
		{"public key", pub, "", "this is a public key"},
		{"two keys", append(append([]byte{}, sec...), sec2...), "", "holds 2 keys"},
		{"no passphrase", locked, "", "set " + PassphraseEnv},
		{"wrong passphrase", locked, "hunter2", "wrong passphrase"},
		{"right passphrase", locked, "correct horse", ""},
		{"signature block", []byte("-----BEGIN PGP SIGNATURE-----\n\nwnUE\n=AAAA\n-----END PGP SIGNATURE-----\n"), "", "not a secret key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ReadKey(tt.in, []byte(tt.passphrase))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := k.ClearSign([]byte("x\n"), time.Now()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if tt.passphrase != "" && strings.Contains(err.Error(), tt.passphrase) {
				t.Fatalf("the error quotes the passphrase: %v", err)
			}
		})
	}
}

func TestKeyExpiry(t *testing.T) {
	created := time.Now().Add(-48 * time.Hour)
	k, _ := testKey(t, aptrepotest.KeyOptions{Created: created, Lifetime: 24 * time.Hour})
	if got, want := k.Expires().Unix(), created.Add(24*time.Hour).Unix(); got != want {
		t.Errorf("Expires %d, want %d", got, want)
	}
	err := k.Check(time.Now())
	if err == nil || !strings.Contains(err.Error(), "expired on "+created.Add(24*time.Hour).UTC().Format(time.DateOnly)) ||
		!strings.Contains(err.Error(), "gpg --quick-set-expire "+k.Fingerprint()) {
		t.Fatalf("expired key: %v", err)
	}
	if _, err := k.ClearSign([]byte("x\n"), time.Now()); err == nil {
		t.Fatal("signed with an expired key")
	}
	if err := k.Check(created.Add(time.Hour)); err != nil {
		t.Fatalf("valid then: %v", err)
	}
	if err := k.Check(created.Add(-time.Hour)); err == nil || !strings.Contains(err.Error(), "created in the future") {
		t.Fatalf("before creation: %v", err)
	}
}
