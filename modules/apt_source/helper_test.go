package aptsource

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

func str(s string) cty.Value { return cty.StringVal(s) }

func list(ss ...string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.StringVal(s)
	}
	return cty.ListVal(vs)
}

func config(t testing.TB, base string, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "apt_source", base, vals, sensitive...)
}

func newSource(t testing.TB, base string, vals map[string]cty.Value) *Source {
	t.Helper()
	r, err := New(config(t, base, vals))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Source)
}

// testKey is a fresh OpenPGP key pair: a key no repository is signed with.
type testKey struct {
	entity        *openpgp.Entity
	public        []byte // binary, as gpg --export writes it
	secret        []byte // binary, as gpg --export-secret-keys writes it
	fingerprint   string
	publicArmored string
	secretArmored string
}

func newTestKey(t testing.TB) *testKey {
	t.Helper()
	e, err := openpgp.NewEntity("pinery test", "", "test@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return time.Now() }})
	if err != nil {
		t.Fatal(err)
	}
	k := &testKey{entity: e}
	var pub, sec bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivate(&sec, nil); err != nil {
		t.Fatal(err)
	}
	k.public, k.secret = pub.Bytes(), sec.Bytes()
	k.publicArmored = string(armored(t, publicBlock, k.public))
	k.secretArmored = string(armored(t, "PGP PRIVATE KEY BLOCK", k.secret))
	k.fingerprint = upperHex(e.PrimaryKey.Fingerprint)
	return k
}

func armored(t testing.TB, typ string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, typ, map[string]string{"Comment": "made by a pinery test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func upperHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
