// Package aptrepotest makes what the apt repository's tests need: small
// real .deb files (built with nfpm, as pinery's own packaging is) and
// OpenPGP signing keys.
package aptrepotest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// mtime keeps the test packages reproducible.
var mtime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// Deb returns a .deb of package name at version for arch that installs one
// file, /usr/share/pinery-test/NAME, holding "NAME VERSION\n".
func Deb(t testing.TB, name, version, arch string) []byte {
	t.Helper()
	b, err := MakeDeb(t.TempDir(), name, version, arch)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MakeDeb is Deb without a test, for testscript commands; tmp is a scratch
// directory.
func MakeDeb(tmp, name, version, arch string) ([]byte, error) {
	src := filepath.Join(tmp, name+"-"+version+"-"+arch+".txt")
	if err := os.WriteFile(src, []byte(name+" "+version+"\n"), 0o644); err != nil {
		return nil, err
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          name,
		Arch:          arch,
		Version:       version,
		VersionSchema: "none",
		Maintainer:    "pinery tests <tests@pinery.invalid>",
		Description:   "pinery test package " + name + "\nIt installs one small file.",
		Section:       "misc",
		Priority:      "optional",
		MTime:         mtime,
		Overridables: nfpm.Overridables{Contents: files.Contents{{
			Source:      src,
			Destination: "/usr/share/pinery-test/" + name,
			FileInfo:    &files.ContentFileInfo{Mode: 0o644, MTime: mtime},
		}}},
	})
	var buf bytes.Buffer
	if err := deb.Default.Package(info, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// KeyOptions shape a test key.
type KeyOptions struct {
	Name       string        // user ID name; "pinery test" when empty
	Created    time.Time     // zero: now
	Lifetime   time.Duration // zero: does not expire
	Passphrase string        // protects the secret key when set
}

// Key returns a fresh ed25519 secret key, armoured, and its public key,
// armoured too.
func Key(t testing.TB, o KeyOptions) (secret, public []byte) {
	t.Helper()
	secret, public, err := MakeKey(o)
	if err != nil {
		t.Fatal(err)
	}
	return secret, public
}

// MakeKey is Key without a test.
func MakeKey(o KeyOptions) (secret, public []byte, err error) {
	if o.Name == "" {
		o.Name = "pinery test"
	}
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		KeyLifetimeSecs: uint32(o.Lifetime / time.Second)}
	if !o.Created.IsZero() {
		cfg.Time = func() time.Time { return o.Created }
	}
	e, err := openpgp.NewEntity(o.Name, "test only", "tests@pinery.invalid", cfg)
	if err != nil {
		return nil, nil, err
	}
	if o.Passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(o.Passphrase), nil); err != nil {
			return nil, nil, err
		}
	}
	var sec, pub bytes.Buffer
	w, err := armor.Encode(&sec, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, nil, err
	}
	// Self-signatures exist already; re-signing would need the decrypted key.
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		return nil, nil, err
	}
	w.Close()
	sec.WriteByte('\n')
	w, err = armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, nil, err
	}
	w.Close()
	pub.WriteByte('\n')
	return sec.Bytes(), pub.Bytes(), nil
}
