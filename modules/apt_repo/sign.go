package aptrepo

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// PassphraseEnv names the environment variable that holds the passphrase of
// a protected signing key. It is never a flag (flags show in ps and shell
// history) and never printed.
const PassphraseEnv = "PINERY_SIGNING_PASSPHRASE"

// signHash is the digest of every signature; apt refuses SHA-1.
const signHash = crypto.SHA512

// Key is an OpenPGP secret key that signs a repository's Release files.
type Key struct {
	entity *openpgp.Entity
}

// Errors a caller may test for with errors.Is.
var (
	ErrNeedPassphrase = errors.New("the signing key is protected by a passphrase: set " + PassphraseEnv)
	ErrBadPassphrase  = errors.New("wrong passphrase for the signing key (" + PassphraseEnv + ")")
)

// ReadKeyFile reads an ASCII-armoured secret key from a file, decrypting it
// with the passphrase in $PINERY_SIGNING_PASSPHRASE when it is protected.
func ReadKeyFile(name string) (*Key, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	k, err := ReadKey(b, []byte(os.Getenv(PassphraseEnv)))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", name, err)
	}
	return k, nil
}

// ReadKey parses one ASCII-armoured OpenPGP secret key (gpg
// --export-secret-keys --armor). A protected key is decrypted with
// passphrase. Error messages never quote the key.
func ReadKey(armored, passphrase []byte) (*Key, error) {
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return nil, errors.New("not an ASCII-armoured OpenPGP key (-----BEGIN PGP PRIVATE KEY BLOCK-----)")
	}
	switch block.Type {
	case openpgp.PrivateKeyType:
		if n := bytes.Count(armored, []byte("-----BEGIN "+openpgp.PrivateKeyType)); n > 1 {
			return nil, fmt.Errorf("the file holds %d keys; give exactly one", n)
		}
	case openpgp.PublicKeyType:
		return nil, errors.New("this is a public key; give the secret key (gpg --export-secret-keys --armor KEYID)")
	default:
		return nil, fmt.Errorf("this is a %q block, not a secret key", block.Type)
	}
	list, err := openpgp.ReadKeyRing(block.Body)
	if err != nil {
		return nil, fmt.Errorf("cannot read the secret key: %v", err)
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("the file holds %d keys; give exactly one", len(list))
	}
	e := list[0]
	if e.PrivateKey == nil {
		return nil, errors.New("the key has no secret part; give the secret key (gpg --export-secret-keys --armor KEYID)")
	}
	if encrypted(e) {
		if len(passphrase) == 0 {
			return nil, ErrNeedPassphrase
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, ErrBadPassphrase
		}
	}
	return &Key{entity: e}, nil
}

func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// Fingerprint is the primary key's fingerprint in upper-case hex, as gpg
// shows it.
func (k *Key) Fingerprint() string {
	return strings.ToUpper(fmt.Sprintf("%x", k.entity.PrimaryKey.Fingerprint))
}

// PublicKey is the armoured public key that clients put in Signed-By,
// with its CRC line.
func (k *Key) PublicKey() ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := k.entity.Serialize(w); err != nil {
		return nil, fmt.Errorf("exporting the public key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Expires is when the primary key expires; zero when it does not.
func (k *Key) Expires() time.Time {
	sig, _ := k.entity.PrimarySelfSignature()
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return k.entity.PrimaryKey.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

// signer picks the key that signs at now, or says why none can.
func (k *Key) signer(now time.Time) (*packet.PrivateKey, error) {
	if sk, ok := k.entity.SigningKey(now); ok {
		if sk.PrivateKey == nil || sk.PrivateKey.Dummy() {
			return nil, errors.New("the signing key's secret part is not in the file (exported with --export-secret-subkeys?)")
		}
		return sk.PrivateKey, nil
	}
	fp := k.Fingerprint()
	switch exp := k.Expires(); {
	case k.entity.Revoked(now):
		return nil, fmt.Errorf("the signing key %s is revoked", fp)
	case !exp.IsZero() && !now.Before(exp):
		return nil, fmt.Errorf("the signing key %s expired on %s; extend it (gpg --quick-set-expire %s 1y) and export it again", fp, exp.UTC().Format(time.DateOnly), fp)
	case now.Before(k.entity.PrimaryKey.CreationTime):
		return nil, fmt.Errorf("the signing key %s was created in the future (%s); check the clock", fp, k.entity.PrimaryKey.CreationTime.UTC().Format(time.RFC3339))
	}
	return nil, fmt.Errorf("the key %s has no usable signing key (its signing subkeys expired or were revoked, or it may not sign)", fp)
}

// Check says whether the key can sign at now.
func (k *Key) Check(now time.Time) error {
	_, err := k.signer(now)
	return err
}

func (k *Key) config(now time.Time, signer *packet.PrivateKey) *packet.Config {
	// No random salt notation: gpgv does not need it, and without it a
	// signature is a few bytes shorter.
	return &packet.Config{DefaultHash: signHash, Time: func() time.Time { return now }, SigningKeyId: signer.KeyId,
		NonDeterministicSignaturesViaNotation: packet.BoolPointer(false)}
}

// ClearSign returns data clear-signed, as InRelease is, with the armour's
// CRC-24 line that gpgv requires.
func (k *Key) ClearSign(data []byte, now time.Time) ([]byte, error) {
	sk, err := k.signer(now)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, sk, k.config(now, sk))
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return withChecksum(buf.Bytes())
}

// DetachSign returns an armoured detached signature of data (Release.gpg).
func (k *Key) DetachSign(data []byte, now time.Time) ([]byte, error) {
	sk, err := k.signer(now)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, k.entity, bytes.NewReader(data), k.config(now, sk)); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

const sigBegin = "-----BEGIN PGP SIGNATURE-----"

// withChecksum re-armours the signature block of a clear-signed message
// with the CRC-24 line ("=XXXX" before the END line). go-crypto leaves it
// out, as RFC 9580 allows; RFC 4880 armour has it, and verifiers written
// to that RFC may insist on it (gpgv 2.2 does not).
func withChecksum(signed []byte) ([]byte, error) {
	i := bytes.LastIndex(signed, []byte("\n"+sigBegin))
	if i < 0 {
		return nil, errors.New("clear-signed message without a signature block")
	}
	block, err := armor.Decode(bytes.NewReader(signed[i+1:]))
	if err != nil {
		return nil, fmt.Errorf("re-reading the signature: %w", err)
	}
	sig, err := io.ReadAll(block.Body)
	if err != nil {
		return nil, fmt.Errorf("re-reading the signature: %w", err)
	}
	out := bytes.NewBuffer(append([]byte(nil), signed[:i+1]...))
	w, err := armor.Encode(out, block.Type, block.Header)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(sig); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// fingerprintOf reads an armoured public key (pubkey.asc) and returns its
// fingerprint as Fingerprint does.
func fingerprintOf(armored []byte) (string, bool) {
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil || len(list) != 1 {
		return "", false
	}
	return strings.ToUpper(fmt.Sprintf("%x", list[0].PrimaryKey.Fingerprint)), true
}
