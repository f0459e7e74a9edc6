package main

import (
	"os"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
)

// The repo scripts' commands make test packages and keys.
func init() {
	// `mkdeb FILE NAME VERSION ARCH`: a small real .deb (built by nfpm).
	scriptCmds["mkdeb"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 4 {
			ts.Fatalf("usage: mkdeb FILE NAME VERSION ARCH")
		}
		data, err := aptrepotest.MakeDeb(ts.MkAbs(""), args[1], args[2], args[3])
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o644))
	}
	// `pgpkey SECRET PUBLIC [expired] [passphrase=P]`: a fresh ed25519
	// signing key, armoured; "expired" makes one that expired yesterday.
	scriptCmds["pgpkey"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 2 {
			ts.Fatalf("usage: pgpkey SECRET PUBLIC [expired] [passphrase=P]")
		}
		var o aptrepotest.KeyOptions
		for _, a := range args[2:] {
			switch {
			case a == "expired":
				o.Created, o.Lifetime = time.Now().Add(-48*time.Hour), 24*time.Hour
			case strings.HasPrefix(a, "passphrase="):
				o.Passphrase = strings.TrimPrefix(a, "passphrase=")
			default:
				ts.Fatalf("pgpkey: unknown option %q", a)
			}
		}
		sec, pub, err := aptrepotest.MakeKey(o)
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), sec, 0o600))
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), pub, 0o644))
	}
}
