package aptsource

import (
	"bytes"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/pinery/pinery/engine/resource"
)

// FuzzParseKey: whatever the input, parseKey never panics, and what it
// accepts holds no secret key packet and reads back as the same keys.
func FuzzParseKey(f *testing.F) {
	k := newTestKey(f)
	f.Add(k.public, false)
	f.Add([]byte(k.publicArmored), true)
	f.Add([]byte(k.publicArmored+k.secretArmored), true)
	f.Add(k.secret, false)
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, armoured bool) {
		key, err := parseKey(b, armoured)
		if err != nil {
			return
		}
		packets := key.data
		if key.ext == "asc" {
			if packets, err = dearmor(key.data); err != nil {
				t.Fatalf("written armour does not decode: %v", err)
			}
		}
		r := packet.NewOpaqueReader(bytes.NewReader(packets))
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("accepted a stream that does not parse: %v", err)
			}
			if p.Tag == tagSecretKey || p.Tag == tagSecretSubkey {
				t.Fatal("accepted a secret key")
			}
		}
		back, err := parseKey(key.data, false)
		if err != nil || back.fprs != key.fprs {
			t.Fatalf("written key reads back as %v, %v; want %s", back, err, key.fprs)
		}
	})
}

// FuzzParseProbe: malformed probe output is an error, never a panic.
func FuzzParseProbe(f *testing.F) {
	f.Add("sources=none\nasc=none\ngpg=none\n")
	f.Add("sources=file 644 0 0 3 " + sha([]byte("abc")) + "\nsources_base64=YWJj\nasc=dir\ngpg=link\n")
	f.Add("sources=file 7777 0 0 -1 x\n")
	s := &Source{name: "f", sum: sha([]byte("x"))}
	f.Fuzz(func(t *testing.T, out string) {
		_, _ = s.Plan(resource.ProbeResult{Stdout: []byte(out)})
	})
}
