package aptrepo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Verify checks a published suite in a repository directory the way apt
// does, against the repository's pubkey.asc: InRelease signed by that key
// (and not expired), Release and Release.gpg agreeing with it, every index
// and its by-hash names matching the Release checksums, and every pool
// file the indexes list matching theirs. It returns the problems found,
// none when the suite is sound.
func Verify(dir, suite string, now time.Time) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	pub, err := os.ReadFile(filepath.Join(dir, "pubkey.asc"))
	if err != nil {
		bad("cannot read the repository's public key: %v", err)
		return problems
	}
	keyring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pub))
	if err != nil {
		bad("pubkey.asc is not an armoured OpenPGP public key: %v", err)
		return problems
	}
	dists := filepath.Join(dir, "dists", suite)
	inRelease, err := os.ReadFile(filepath.Join(dists, "InRelease"))
	if err != nil {
		bad("dists/%s/InRelease: %v: the suite is not signed", suite, errors.Unwrap(err))
		return problems
	}
	block, _ := clearsign.Decode(inRelease)
	if block == nil {
		bad("dists/%s/InRelease is not a clear-signed message: the suite is not signed", suite)
		return problems
	}
	config := &packet.Config{Time: func() time.Time { return now }}
	if _, err := block.VerifySignature(keyring, config); err != nil {
		bad("dists/%s/InRelease: %s", suite, signatureProblem(err, issuer(inRelease), keyring))
		return problems
	}
	// The signed text, as apt reads it (the clear-signed form drops the
	// last line break).
	text := append(bytes.TrimRight(block.Plaintext, "\n"), '\n')
	if plain, err := os.ReadFile(filepath.Join(dists, "Release")); err != nil {
		bad("dists/%s/Release: %v", suite, errors.Unwrap(err))
	} else if !bytes.Equal(plain, text) {
		bad("dists/%s/Release differs from the text signed in InRelease", suite)
	} else if sig, err := os.ReadFile(filepath.Join(dists, "Release.gpg")); err != nil {
		bad("dists/%s/Release.gpg: %v", suite, errors.Unwrap(err))
	} else if _, err := openpgp.CheckArmoredDetachedSignature(keyring, bytes.NewReader(plain), bytes.NewReader(sig), config); err != nil {
		bad("dists/%s/Release.gpg: %s", suite, signatureProblem(err, "", keyring))
	}
	rel, err := ParseRelease(text)
	if err != nil {
		bad("dists/%s/InRelease: %v", suite, err)
		return problems
	}
	if rel.Suite != suite && rel.Codename != suite {
		bad("dists/%s/InRelease is for suite %q (codename %q)", suite, rel.Suite, rel.Codename)
	}
	if !rel.ValidUntil.IsZero() && now.After(rel.ValidUntil) {
		bad("dists/%s/InRelease expired at %s (Valid-Until); publish again", suite, rel.ValidUntil.UTC().Format(time.RFC3339))
	}
	for _, f := range rel.Files {
		p := filepath.Join(dists, filepath.FromSlash(f.Path))
		data, err := os.ReadFile(p)
		if err != nil {
			bad("dists/%s/%s: %v", suite, f.Path, errors.Unwrap(err))
			continue
		}
		if msg := compare(data, f); msg != "" {
			bad("dists/%s/%s: %s (modified after signing?)", suite, f.Path, msg)
		} else if rel.AcquireByHash {
			for _, name := range byHashNames(f) {
				if d, err := os.ReadFile(filepath.Join(dists, filepath.FromSlash(name))); err != nil {
					bad("dists/%s/%s: missing (Acquire-By-Hash)", suite, name)
				} else if msg := compare(d, f); msg != "" {
					bad("dists/%s/%s: %s", suite, name, msg)
				}
			}
		}
		if path.Base(f.Path) == "Packages" {
			problems = append(problems, verifyPool(dir, p)...)
		}
	}
	return problems
}

// compare says how data differs from what Release lists, "" when not.
func compare(data []byte, f IndexFile) string {
	if int64(len(data)) != f.Size {
		return fmt.Sprintf("size %d, Release says %d", len(data), f.Size)
	}
	got := sums(data)
	for i, name := range hashNames {
		if f.Sums[i] != "" && got[i] != f.Sums[i] {
			return fmt.Sprintf("%s %s, Release says %s", name, got[i], f.Sums[i])
		}
	}
	return ""
}

// verifyPool checks each pool file a Packages file lists: size and SHA-256.
func verifyPool(dir, packages string) []string {
	f, err := os.Open(packages)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var problems []string
	var name, size, sum string
	check := func() {
		if name == "" {
			return
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if st, err := os.Stat(p); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, errors.Unwrap(err)))
		} else if fmt.Sprint(st.Size()) != size {
			problems = append(problems, fmt.Sprintf("%s: size %d, the index says %s", name, st.Size(), size))
		} else if got := fileSHA256(p); got != sum {
			problems = append(problems, fmt.Sprintf("%s: SHA256 %s, the index says %s", name, got, sum))
		}
		name, size, sum = "", "", ""
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxControl)
	for sc.Scan() {
		line := sc.Text()
		switch k, v, _ := strings.Cut(line, ": "); {
		case line == "":
			check()
		case k == "Filename":
			if strings.Contains(v, "..") || strings.HasPrefix(v, "/") {
				problems = append(problems, fmt.Sprintf("%s lists %q, outside the repository", packages, v))
				continue
			}
			name = v
		case k == "Size":
			size = v
		case k == "SHA256":
			sum = v
		}
	}
	check()
	return problems
}

// issuer is the key ID that signed a clear-signed message, as apt shows
// it, or "".
func issuer(signed []byte) string {
	block, _ := clearsign.Decode(signed)
	if block == nil {
		return ""
	}
	p, err := packet.Read(block.ArmoredSignature.Body)
	if s, ok := p.(*packet.Signature); err == nil && ok && s.IssuerKeyId != nil {
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return ""
}

// signatureProblem explains a failed signature check the way apt's
// output would let a person act on it.
func signatureProblem(err error, keyID string, keyring openpgp.EntityList) string {
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		who := "a key"
		if keyID != "" {
			who = "key " + keyID
		}
		return "signed by " + who + ", which is not the repository's key (pubkey.asc): apt says NO_PUBKEY"
	case errors.Is(err, pgperrors.ErrKeyExpired):
		exp := ""
		if len(keyring) == 1 {
			if t := (&Key{entity: keyring[0]}).Expires(); !t.IsZero() {
				exp = " on " + t.UTC().Format(time.DateOnly)
			}
		}
		return "signed by the repository's key, which expired" + exp + ": apt says EXPKEYSIG; extend the key, export pubkey.asc again and publish"
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return "signed by a revoked key: apt says REVKEYSIG"
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return "the signature has expired"
	}
	return "bad signature (" + err.Error() + "): apt says BADSIG"
}
