// Package aptrepo builds signed Debian (apt) repositories: the library
// behind `pinery repo` (a directory on this machine) and the `apt_repo`
// resource type (a directory on a repo host, over SSH).
//
// # Layout
//
//	pubkey.asc                          the signing key's public key (Signed-By)
//	pinery-repo.json                    local repositories only: settings, key
//	                                    fingerprint, the packages of each suite
//	pool/COMPONENT/P/SOURCE/NAME_VERSION_ARCH.deb
//	snapshots/ID/pool -> ../../pool     so snapshots/ID is an apt source itself
//	snapshots/ID/dists/SUITE/           Release, InRelease, Release.gpg and
//	    COMPONENT/binary-ARCH/          Packages{,.gz,.xz} + by-hash/HASH/HEX
//	dists/SUITE -> ../snapshots/ID/dists/SUITE
//
// P is "lib" plus one letter for lib* sources, else the first letter, as in
// Debian. A snapshot ID is the UTC time and the first 8 hex digits of the
// Release's SHA-256; IDs sort in the order snapshots were made. A snapshot
// holds one suite and never changes; a pool file never changes either (a
// different file under a used name gets "+SHA256PREFIX" in its name).
//
// # Publishing
//
// A publish writes a new snapshot beside the others (in a temporary
// directory renamed into place, each file synced), hard-links into its
// by-hash directories the index files of the earlier snapshots that are
// kept, then points dists/SUITE at it with one rename(2). A client whose
// apt-get update read the old InRelease finds the indexes it names by
// hash after the switch; one that starts after it sees only the new
// snapshot. Then the oldest snapshots of the suite beyond the number to
// keep go (never one a suite points to), and pool files no remaining
// snapshot (nor, locally, the database) lists. A suite whose indexes
// would not change is not published again, unless its Valid-Until is more
// than half way to expiry.
//
// Release lists MD5Sum, SHA1, SHA256 and SHA512 sums and Acquire-By-Hash;
// InRelease is clear-signed and Release.gpg a detached signature, both
// SHA-512, made with github.com/ProtonMail/go-crypto; the clear signature's
// armour gets the CRC-24 line go-crypto leaves out. The secret key is read
// from an armoured file or value, unlocked with $PINERY_SIGNING_PASSPHRASE,
// and never written anywhere.
//
// .deb files are read here: the ar archive, control.tar (plain, gzip, xz or
// zstd) and its control file, whose stanza goes into Packages as it is,
// with Filename, Size and the four checksums added.
//
// Local repositories (Repo) are locked with flock on .pinery-repo.lock
// while open; the resource takes the same lock on the host while it
// publishes. The resource keeps no copy of the repository on the
// controller: the host's repository is the only state, the probe reads its
// current Release and package list, and apply uploads what the host lacks.
// So nothing can go stale on the controller, and a laptop and a CI job may
// publish to the same host.
package aptrepo
