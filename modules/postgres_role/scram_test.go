package postgresrole

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// The exchange of RFC 7677 section 3 (user "user", password "pencil"):
// the verifier computed from its salt and iterations must accept the
// client's proof and produce the server's signature.
func TestSCRAMRFC7677(t *testing.T) {
	const (
		salt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
		authMsg     = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
		clientProof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		serverSig   = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	)
	s, _ := base64.StdEncoding.DecodeString(salt)
	v, err := scramVerifier("pencil", s, 4096)
	if err != nil {
		t.Fatal(err)
	}
	keys := strings.Split(strings.SplitN(v, "$", 3)[2], ":")
	storedKey, _ := base64.StdEncoding.DecodeString(keys[0])
	serverKey, _ := base64.StdEncoding.DecodeString(keys[1])

	if got := base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, authMsg)); got != serverSig {
		t.Errorf("server signature %s, want %s", got, serverSig)
	}
	proof, _ := base64.StdEncoding.DecodeString(clientProof)
	clientSig := hmacSHA256(storedKey, authMsg)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	if h := sha256.Sum256(clientKey); !hmac.Equal(h[:], storedKey) {
		t.Errorf("the client's proof does not match StoredKey %x", storedKey)
	}
}

// A verifier PostgreSQL 15 itself stored for the password "pencil"
// (CREATE ROLE ... PASSWORD 'pencil' on a fleet host, read from pg_authid).
const pgVerifier = "SCRAM-SHA-256$4096:9R2PUU15qZY6oov+WoJzMg==$ZKzjmJbjmDtNCnIJ4oVsyil2CvMNHQJvaYu/tOl9arc=:qvWzfwy7kumEey9V8mhMGu6S957efjbIsqnb0bf26do="

func TestSCRAMPostgreSQLVector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("9R2PUU15qZY6oov+WoJzMg==")
	v, err := scramVerifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if v != pgVerifier {
		t.Fatalf("verifier\n got %s\nwant %s", v, pgVerifier)
	}
	if !verifierSyntax.MatchString(v) {
		t.Errorf("verifierSyntax rejects %s", v)
	}
}

// stored.matches works from what the probe prints: iterations, salt and a
// digest of the verifier.
func TestStoredMatches(t *testing.T) {
	d := sha256.Sum256([]byte(pgVerifier))
	row := "scram 4096:9R2PUU15qZY6oov+WoJzMg== " + hex.EncodeToString(d[:])
	st, err := parseStored(row)
	if err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{"pencil": true, "pencil ": false, "Pencil": false, "": false} {
		if got, err := st.matches(pw); err != nil || got != want {
			t.Errorf("matches(%q) = %v, %v; want %v", pw, got, err, want)
		}
	}
	for _, kind := range []string{"none", "other"} {
		st, err := parseStored(kind)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.matches("pencil"); ok {
			t.Errorf("%s matches a password", kind)
		}
	}
	// A verifier that would cost minutes to recompute is refused.
	huge, err := parseStored("scram 999999999:9R2PUU15qZY6oov+WoJzMg== " + hex.EncodeToString(d[:]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := huge.matches("pencil"); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("huge iteration count: %v", err)
	}
	for _, bad := range []string{"", "md5", "scram", "scram 4096:!!! " + hex.EncodeToString(d[:]), "scram x:c2FsdA== " + hex.EncodeToString(d[:]),
		"scram 4096:c2FsdA== abcd", "scram 4096:c2FsdA== " + hex.EncodeToString(d[:]) + " extra", "scram 0:c2FsdA== " + hex.EncodeToString(d[:])} {
		if _, err := parseStored(bad); err == nil {
			t.Errorf("parseStored(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "c2FsdA") {
			t.Errorf("the error quotes the salt: %v", err)
		}
	}
}

func TestNewVerifierFreshSalt(t *testing.T) {
	a, err := newVerifier("pencil")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newVerifier("pencil")
	if a == b || !verifierSyntax.MatchString(a) || !strings.HasPrefix(a, "SCRAM-SHA-256$4096:") {
		t.Fatalf("verifiers %s and %s", a, b)
	}
	// Each matches its own password through the probe's view.
	parts := strings.SplitN(a, "$", 3)
	d := sha256.Sum256([]byte(a))
	st, err := parseStored("scram " + parts[1] + " " + hex.EncodeToString(d[:]))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := st.matches("pencil"); !ok || err != nil {
		t.Fatalf("a fresh verifier does not match its password: %v %v", ok, err)
	}
}
