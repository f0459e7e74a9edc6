package postgresrole

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// PostgreSQL's own choices (src/include/common/scram-common.h).
const (
	scramIterations = 4096
	scramSaltLen    = 16
	// maxIterations bounds the work a verifier found on a host can ask of
	// the controller; PostgreSQL 15 always writes 4096.
	maxIterations = 10_000_000
)

// scramVerifier is the SCRAM-SHA-256 verifier PostgreSQL stores in
// pg_authid.rolpassword (RFC 5802 section 3, RFC 7677):
//
//	SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY
//
// SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations);
// StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")); ServerKey =
// HMAC(SaltedPassword, "Server Key"); all in standard base64. PostgreSQL
// normalizes a password with SASLprep first, which leaves ASCII as it is:
// New accepts only ASCII passwords.
func scramVerifier(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("computing the SCRAM verifier: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// newVerifier makes a verifier with a fresh random salt, as PostgreSQL's
// own clients (psql's \password) do.
func newVerifier(password string) (string, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifier(password, salt, scramIterations)
}

// verifierSyntax is what a verifier may hold: it is written into the SQL
// given to psql on stdin, between single quotes, so it must never hold a
// quote or a backslash; the check makes that certain, not assumed.
var verifierSyntax = regexp.MustCompile(`^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$`)

// stored is what the probe says of a role's password: not the verifier
// itself, only its iterations and salt and a SHA-256 digest of it, which
// is enough to tell whether a password matches it.
type stored struct {
	kind       string // "none", "scram" or "other" (an md5 hash)
	iterations int
	salt       []byte
	digest     []byte
}

// parseStored reads "none", "other" or "scram ITER:SALT DIGEST".
func parseStored(s string) (stored, error) {
	if s == "none" || s == "other" {
		return stored{kind: s}, nil
	}
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "scram" {
		return stored{}, errors.New("malformed password row in probe output")
	}
	it, salt, _ := strings.Cut(f[1], ":")
	iter, err0 := strconv.Atoi(it)
	st := stored{kind: "scram", iterations: iter}
	var err1, err2 error
	st.salt, err1 = base64.StdEncoding.DecodeString(salt)
	st.digest, err2 = hex.DecodeString(f[2])
	if err0 != nil || err1 != nil || err2 != nil || len(st.salt) == 0 || len(st.digest) != sha256.Size || iter < 1 {
		return stored{}, errors.New("malformed password row in probe output")
	}
	return st, nil
}

// matches recomputes the verifier of password with the stored salt and
// iterations and compares digests.
func (st stored) matches(password string) (bool, error) {
	if st.kind != "scram" {
		return false, nil
	}
	if st.iterations > maxIterations {
		return false, fmt.Errorf("the stored SCRAM verifier uses %d iterations; pinery recomputes at most %d", st.iterations, maxIterations)
	}
	v, err := scramVerifier(password, st.salt, st.iterations)
	if err != nil {
		return false, err
	}
	d := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(d[:], st.digest) == 1, nil
}
