package aptsource

import (
	"os/exec"
	"strings"
	"testing"
)

// apt-get update outputs: most as apt 2.6 printed them on the test fleet;
// the expired key, apt 3's sqv, the mirror sync and the lock in apt's
// wording for those cases.
var aptOutputs = []struct {
	name   string
	out    string
	fails  bool
	reason string // in the first reason
	hint   string
}{
	{name: "fine", out: `Get:1 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]
Get:2 http://deb.debian.org/debian bookworm-updates/main amd64 Packages [6924 B]
Fetched 62.3 kB in 0s (551 kB/s)
Reading package lists...`},
	{name: "hit, foreign architecture notice, legacy keyring warning", out: `Hit:1 http://deb.debian.org/debian bookworm-updates InRelease
Reading package lists...
N: Skipping acquire of configured file 'main/binary-i386/Packages' as repository 'https://apt.example.org/debian bookworm InRelease' doesn't support architecture 'i386'
W: https://apt.example.org/debian/dists/bookworm/InRelease: Key is stored in legacy trusted.gpg keyring (/etc/apt/trusted.gpg), see the DEPRECATION section in apt-key(8) for details.`},
	{name: "wrong key", fails: true, hint: "signed by key 6ED0E7B82643E131, 78DBA3BC47EF2265",
		reason: "W: An error occurred during the signature verification. The repository is not updated and the previous index files will be used. GPG error: http://deb.debian.org/debian bookworm-updates InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 6ED0E7B82643E131 NO_PUBKEY 78DBA3BC47EF2265",
		out: `Get:1 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]
Err:1 http://deb.debian.org/debian bookworm-updates InRelease
  The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 6ED0E7B82643E131 NO_PUBKEY 78DBA3BC47EF2265
Fetched 55.4 kB in 0s (861 kB/s)
Reading package lists...
W: An error occurred during the signature verification. The repository is not updated and the previous index files will be used. GPG error: http://deb.debian.org/debian bookworm-updates InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 6ED0E7B82643E131 NO_PUBKEY 78DBA3BC47EF2265
E: Failed to fetch http://deb.debian.org/debian/dists/bookworm-updates/InRelease  The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 6ED0E7B82643E131 NO_PUBKEY 78DBA3BC47EF2265
E: Some index files failed to download. They have been ignored, or old ones used instead.`},
	{name: "wrong key, apt without Error-Mode", fails: true, reason: "GPG error", hint: "NO_PUBKEY",
		out: `Err:1 http://deb.debian.org/debian bookworm-updates InRelease
  The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 6ED0E7B82643E131
Reading package lists...
W: GPG error: http://deb.debian.org/debian bookworm-updates InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 6ED0E7B82643E131
E: The repository 'http://deb.debian.org/debian bookworm-updates InRelease' is not signed.
N: Updating from such a repository can't be done securely, and is therefore disabled by default.
N: See apt-secure(8) manpage for repository creation and user configuration details.`},
	{name: "expired key", fails: true, reason: "EXPKEYSIG", hint: "expired",
		out: `W: GPG error: https://apt.example.org/debian bookworm InRelease: The following signatures were invalid: EXPKEYSIG 1A2B3C4D5E6F7A8B Example Archive <archive@example.org>
E: The repository 'https://apt.example.org/debian bookworm InRelease' is not signed.`},
	{name: "apt 3 with sqv", fails: true, reason: "OpenPGP signature verification failed",
		out: `Warning: OpenPGP signature verification failed: http://deb.debian.org/debian trixie-updates InRelease: Sub-process /usr/bin/sqv returned an error code (1), error message is: Missing key 4CB50190207B4758A3F73A796ED0E7B82643E131, which is needed to verify signature.
Error: The repository 'http://deb.debian.org/debian trixie-updates InRelease' is not signed.`},
	{name: "no such suite", fails: true, reason: "does not have a Release file", hint: "Check uris and suites",
		out: `Ign:1 http://deb.debian.org/debian nosuch InRelease
Err:2 http://deb.debian.org/debian nosuch Release
  404  Not Found [IP: 10.231.0.1 3142]
Reading package lists...
E: The repository 'http://deb.debian.org/debian nosuch Release' does not have a Release file.`},
	{name: "host not found, exit 0 without Error-Mode", fails: true, reason: "W: Failed to fetch http://nosuch.invalid/debian/dists/nosuch/InRelease",
		out: `Ign:1 http://nosuch.invalid/debian nosuch InRelease
Err:1 http://nosuch.invalid/debian nosuch InRelease
  503  Host not found [IP: 10.231.0.1 3142]
Reading package lists...
W: Failed to fetch http://nosuch.invalid/debian/dists/nosuch/InRelease  503  Host not found [IP: 10.231.0.1 3142]
W: Some index files failed to download. They have been ignored, or old ones used instead.`},
	{name: "missing component, exit 0", fails: true, reason: "doesn't have the component 'nonfree'", hint: "Check components",
		out: `Get:1 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]
Fetched 55.4 kB in 0s (793 kB/s)
Reading package lists...
W: Skipping acquire of configured file 'nonfree/binary-amd64/Packages' as repository 'http://deb.debian.org/debian bookworm-updates InRelease' doesn't have the component 'nonfree' (component misspelt in sources.list?)`},
	{name: "mirror sync", fails: true, reason: "File has unexpected size", hint: "sync in progress",
		out: `E: Failed to fetch http://deb.debian.org/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz  File has unexpected size (6924 != 7012). Mirror sync in progress? [IP: 10.231.0.1 3142]
   Hashes of expected file:
    - Filesize:7012 [weak]
E: Some index files failed to download. They have been ignored, or old ones used instead.`},
	{name: "conflicting Signed-By", fails: true, reason: "Conflicting values set for option Signed-By",
		out: `E: Conflicting values set for option Signed-By regarding source http://deb.debian.org/debian/ bookworm-updates: /etc/apt/keyrings/pinery-exp.gpg != /etc/apt/keyrings/other.gpg
E: The list of sources could not be read.`},
	{name: "lock", fails: true, reason: "Could not get lock", hint: "Another apt process",
		out: `E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)
E: Unable to lock directory /var/lib/apt/lists/`},
}

func TestAptOutput(t *testing.T) {
	grep, err := exec.LookPath("grep")
	if err != nil {
		t.Fatal("grep is needed to check the host-side pattern")
	}
	for _, tt := range aptOutputs {
		t.Run(tt.name, func(t *testing.T) {
			goFails := false
			for _, l := range strings.Split(tt.out, "\n") {
				goFails = goFails || failRE.MatchString(l)
			}
			// The host decides with grep -E: it must agree with Go.
			cmd := exec.Command(grep, "-Eq", "-e", failPattern)
			cmd.Stdin = strings.NewReader(tt.out + "\n")
			shFails := cmd.Run() == nil
			if goFails != tt.fails || shFails != tt.fails {
				t.Fatalf("fails: Go %v, grep -E %v, want %v", goFails, shFails, tt.fails)
			}
			if !tt.fails {
				return
			}
			err := updateError("/etc/apt/sources.list.d/x.sources", tt.out)
			first := aptReasons(tt.out)[0]
			if !strings.Contains(first, tt.reason) {
				t.Errorf("first reason %q, want it to contain %q", first, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.hint) || !strings.Contains(err.Error(), "undone") {
				t.Errorf("error %q, want a hint with %q", err, tt.hint)
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "N:") || strings.HasPrefix(l, "Get:") {
					t.Errorf("noise in the error: %q", l)
				}
			}
		})
	}
}

func TestAptReasonsFallback(t *testing.T) {
	if got := aptReasons(""); len(got) != 1 || got[0] != "(apt printed nothing)" {
		t.Errorf("empty: %q", got)
	}
	got := aptReasons("a\nb\nc\nd\ne\nf\ng\n")
	if strings.Join(got, " ") != "c d e f g" {
		t.Errorf("last lines: %q", got)
	}
}
