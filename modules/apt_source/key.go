package aptsource

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// key is a repository key, checked on the controller.
type key struct {
	data []byte // the bytes written on the host
	ext  string // "asc" (armoured) or "gpg" (binary)
	sum  string // sha256 of data
	fprs string // what the plan shows: the primary keys' fingerprints
}

const (
	publicBlock = "PGP PUBLIC KEY BLOCK"
	armorBegin  = "-----BEGIN PGP "
	// OpenPGP packet tags of secret keys and subkeys (RFC 9580 §5).
	tagSecretKey    = 5
	tagSecretSubkey = 7
	tagPublicKey    = 6
)

var errSecret = errors.New("is a SECRET key: it must never be copied to hosts, and was not; give the PUBLIC key (gpg --export --armor KEYID)")

// parseKey checks that b holds OpenPGP public keys and nothing secret.
// Armoured input (several blocks are joined) is written re-armoured as one
// block of the same packets; binary input is written as it is. Error
// messages never quote the input.
func parseKey(b []byte, armouredOnly bool) (*key, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("is empty")
	}
	k := &key{ext: "gpg", data: b}
	packets := b
	switch {
	case bytes.Contains(b, []byte(armorBegin)) && utf8.Valid(b):
		var err error
		if packets, err = dearmor(b); err != nil {
			return nil, err
		}
		k.ext = "asc"
		if k.data, err = rearmor(packets); err != nil {
			return nil, err
		}
	case armouredOnly:
		return nil, errors.New("is not an ASCII-armoured key (no -----BEGIN PGP PUBLIC KEY BLOCK----- line); for a binary key file use signing_key_source")
	case len(b) >= 12 && string(b[8:12]) == "KBXf":
		return nil, errors.New("is a GnuPG keybox (pubring.kbx), not an OpenPGP keyring: export the keys with gpg --export KEYID >repo.gpg")
	}
	fprs, err := fingerprints(packets)
	if err != nil {
		return nil, err
	}
	k.fprs = fprs
	sum := sha256.Sum256(k.data)
	k.sum = hex.EncodeToString(sum[:])
	return k, nil
}

// dearmor decodes every armour block of b into one packet stream.
func dearmor(b []byte) ([]byte, error) {
	var out bytes.Buffer
	rest := b
	for n := 0; ; n++ {
		i := bytes.Index(rest, []byte(armorBegin))
		if i < 0 {
			if n == 0 {
				return nil, errors.New("holds no armoured block")
			}
			return out.Bytes(), nil
		}
		rest = rest[i:]
		// The block ends at the next BEGIN line, if any: Decode reads ahead.
		end := bytes.Index(rest[len(armorBegin):], []byte("\n"+armorBegin))
		block := rest
		if end >= 0 {
			block, rest = rest[:len(armorBegin)+end+1], rest[len(armorBegin)+end+1:]
		} else {
			rest = nil
		}
		blk, err := armor.Decode(bytes.NewReader(block))
		if err != nil {
			return nil, fmt.Errorf("has a damaged armoured block (%v)", err)
		}
		switch blk.Type {
		case publicBlock:
		case "PGP PRIVATE KEY BLOCK":
			return nil, errSecret
		default:
			return nil, fmt.Errorf("is a %q, not a %q", blk.Type, publicBlock)
		}
		if _, err := io.Copy(&out, blk.Body); err != nil {
			return nil, fmt.Errorf("has a damaged armoured block (%v)", err)
		}
		if rest == nil {
			return out.Bytes(), nil
		}
	}
}

// rearmor writes packets as one armoured public key block, with the CRC
// line that gpgv (and so apt before 3.0) expects.
func rearmor(packets []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, publicBlock, nil)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(packets); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// fingerprints refuses secret key material anywhere in the stream (by
// packet tag, before any parsing that could skip what it does not
// understand) and lists the fingerprints of the public keys.
func fingerprints(packets []byte) (string, error) {
	r := packet.NewOpaqueReader(bytes.NewReader(packets))
	primaries := 0
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("is not an OpenPGP key (%v)", err)
		}
		switch p.Tag {
		case tagSecretKey, tagSecretSubkey:
			return "", errSecret
		case tagPublicKey:
			primaries++
		}
	}
	if primaries == 0 {
		return "", errors.New("holds no OpenPGP public key")
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(packets))
	if err != nil {
		return "", fmt.Errorf("is not a usable OpenPGP public key (%v)", err)
	}
	fs := make([]string, 0, len(el))
	for _, e := range el {
		fs = append(fs, strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint)))
	}
	out := strings.Join(fs, ", ")
	if n := primaries - len(el); n > 0 {
		out += fmt.Sprintf(" (and %d key(s) pinery cannot read)", n)
	}
	return out, nil
}
