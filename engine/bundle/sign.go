package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// The signature file: fixed lines in a fixed order. The signature is over
// sigDomain and every line before "signature:", so that no field can be
// changed, and a signature made for something else cannot be reused.
const (
	sigHeader = "pinery bundle signature v1"
	sigDomain = "pinery-bundle-signature-v1\x00"
	maxSig    = 4096
)

var sigFields = []string{"version", "created", "size", "sha256", "key"}

// Signature is a parsed signature file.
type Signature struct {
	Version string
	Created time.Time
	Size    int64
	SHA256  [32]byte
	Key     string // the signing key's SHA256:... fingerprint
	sig     []byte
	signed  []byte // the bytes the signature covers
}

// Sign makes the signature file of an archive packed with manifest m.
func Sign(archive []byte, m Manifest, key ed25519.PrivateKey) ([]byte, error) {
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(archive)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nversion: %s\ncreated: %s\nsize: %d\nsha256: %x\nkey: %s\n", sigHeader,
		m.Version, m.Created.UTC().Format(time.RFC3339), len(archive), sum, ssh.FingerprintSHA256(pub))
	sig := ed25519.Sign(key, append([]byte(sigDomain), b.Bytes()...))
	fmt.Fprintf(&b, "signature: %s\n", base64.StdEncoding.EncodeToString(sig))
	return b.Bytes(), nil
}

// ParseSignature reads a signature file, strictly: the header, the fields
// in order, nothing else.
func ParseSignature(data []byte) (*Signature, error) {
	bad := func(format string, args ...any) (*Signature, error) {
		return nil, fmt.Errorf("not a pinery bundle signature: "+format, args...)
	}
	if len(data) > maxSig {
		return bad("%d bytes (a signature has a few hundred)", len(data))
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) != len(sigFields)+3 || lines[0] != sigHeader || lines[len(lines)-1] != "" {
		return bad("want the line %q and %d fields, one per line", sigHeader, len(sigFields)+1)
	}
	val := map[string]string{}
	for i, name := range append(sigFields, "signature") {
		v, ok := strings.CutPrefix(lines[i+1], name+": ")
		if !ok {
			return bad("line %d is not %q", i+2, name+": ...")
		}
		val[name] = v
	}
	s := &Signature{Version: val["version"], Key: val["key"]}
	var err error
	if err := CheckVersion(s.Version); err != nil {
		return bad("%v", err)
	}
	if s.Created, err = time.Parse(time.RFC3339, val["created"]); err != nil {
		return bad("created: %v", err)
	}
	if s.Size, err = strconv.ParseInt(val["size"], 10, 64); err != nil || s.Size < 0 {
		return bad("size %q", val["size"])
	}
	if sum, err := hex.DecodeString(val["sha256"]); err != nil || len(sum) != 32 {
		return bad("sha256 %q", val["sha256"])
	} else {
		copy(s.SHA256[:], sum)
	}
	if s.sig, err = base64.StdEncoding.DecodeString(val["signature"]); err != nil || len(s.sig) != ed25519.SignatureSize {
		return bad("signature is not a base64 ed25519 signature")
	}
	end := strings.Index(string(data), "\nsignature: ") + 1
	s.signed = append([]byte(sigDomain), data[:end]...)
	return s, nil
}

// ErrUntrusted is the class of a signature by a key the board does not trust.
var ErrUntrusted = errors.New("not signed by a trusted key")

// Verify checks the signature with the trusted key it names.
func (s *Signature) Verify(trusted []ssh.PublicKey) error {
	var fps []string
	for _, k := range trusted {
		fp := ssh.FingerprintSHA256(k)
		fps = append(fps, fp)
		if fp != s.Key {
			continue
		}
		pub := k.(ssh.CryptoPublicKey).CryptoPublicKey().(ed25519.PublicKey) // ParseTrustedKeys keeps ed25519 keys only
		if !ed25519.Verify(pub, s.signed, s.sig) {
			return fmt.Errorf("bad signature: the signature file was altered, or not made by key %s", s.Key)
		}
		return nil
	}
	return fmt.Errorf("bundle %w: it names key %s; the trusted keys are %s", ErrUntrusted, s.Key, strings.Join(fps, ", "))
}

// Check checks that archive is the one the signature covers.
func (s *Signature) Check(archive []byte) error {
	sum := sha256.Sum256(archive)
	if int64(len(archive)) != s.Size || sum != s.SHA256 {
		return fmt.Errorf("the archive is not the signed one (%d bytes, SHA-256 %x; the signature covers %d bytes, SHA-256 %x): it was altered or truncated",
			len(archive), sum[:8], s.Size, s.SHA256[:8])
	}
	return nil
}

// Open checks a bundle in the only safe order: the signature against the
// trusted keys, the archive against the signature, then the archive's
// contents against its manifest and the manifest against the signature.
func Open(archive, sigFile []byte, trusted []ssh.PublicKey, lim Limits) (*Signature, *Manifest, []File, error) {
	s, err := ParseSignature(sigFile)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.Verify(trusted); err != nil {
		return nil, nil, nil, err
	}
	if err := s.Check(archive); err != nil {
		return nil, nil, nil, err
	}
	m, files, err := Read(archive, lim)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signed archive refused: %w", err)
	}
	if m.Version != s.Version || !m.Created.Equal(s.Created) {
		return nil, nil, nil, fmt.Errorf("signed archive refused: its manifest (version %s, created %s) disagrees with its signature (version %s, created %s)",
			m.Version, m.Created.Format(time.RFC3339), s.Version, s.Created.Format(time.RFC3339))
	}
	return s, m, files, nil
}

// ParseSigningKey reads an unencrypted OpenSSH ed25519 private key.
func ParseSigningKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	k, err := ssh.ParseRawPrivateKey(pemBytes)
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		return nil, errors.New("the signing key has a passphrase: pinery does not prompt; use a key without one, kept where only the signer can read it")
	case err != nil:
		return nil, fmt.Errorf("not an OpenSSH private key (%v)", err)
	}
	switch k := k.(type) {
	case *ed25519.PrivateKey:
		return *k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("a %T key: bundles are signed with ed25519 keys (ssh-keygen -t ed25519)", k)
}

// ParseTrustedKeys reads public keys in authorized_keys (or .pub) form,
// one a line, # comments; only ssh-ed25519 keys are accepted.
func ParseTrustedKeys(data []byte) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: not an SSH public key (%v)", n+1, err)
		}
		if k.Type() != ssh.KeyAlgoED25519 {
			return nil, fmt.Errorf("line %d: a %s key: bundles are signed with ed25519 keys", n+1, k.Type())
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key in it")
	}
	return keys, nil
}
