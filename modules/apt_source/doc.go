package aptsource

const doc = `Configures one apt repository as a deb822 file, ` + "`/etc/apt/sources.list.d/NAME.sources`" + `,
whose ` + "`Signed-By`" + ` names the repository's own key, and installs that key as
` + "`/etc/apt/keyrings/pinery-NAME.asc`" + ` (or ` + "`.gpg`" + `). NAME is the block label, or ` + "`name`" + `.
The key is trusted for this source only: nothing goes to ` + "`trusted.gpg.d`" + ` and apt-key is
never used.

**The key.** Exactly one of:

- ` + "`signing_key`" + `: the repository's public key as ASCII-armoured text, usually
  ` + "`file(\"keys/repo.asc\")`" + `; written as ` + "`pinery-NAME.asc`" + `.
- ` + "`signing_key_source`" + `: a key file on the controller, relative to the .hcl file that
  declares the source: armoured (written as ` + "`pinery-NAME.asc`" + `) or binary, as
  ` + "`gpg --export`" + ` writes it (written as ` + "`pinery-NAME.gpg`" + `, byte for byte).
- ` + "`signed_by`" + `: the path of a keyring that is already on the host, typically installed by
  a package (` + "`/usr/share/keyrings/debian-archive-keyring.gpg`" + `); pinery writes no key.

The key is read on the controller when planning. It must hold OpenPGP public keys
only: a secret key is refused with an error and is never sent to a host. Several
armoured blocks are joined, and an armoured key is written in a canonical form (the
same packets in one block, without comments). The plan shows the keys' fingerprints,
never the key's content (` + "`signing_key: 4D64FEC119C2…, B8B80B5B623E… (/etc/apt/keyrings/pinery-NAME.asc)`" + `,
full fingerprints in the real output); a new key shows the old and the new fingerprints. Fingerprints
are shown even when the key comes from a sensitive value: they reveal nothing of a public key.

**The file.** The fields are written in a fixed order (` + "`Types`, `URIs`, `Suites`,\n`Components`, `Architectures`, `Signed-By`, `Enabled: no`" + ` when disabled), then
` + "`options`" + ` by name, under a comment saying pinery owns the file; the plan shows a
text diff of it. Both files are root's with mode 0644 (apt reads keys as its
unprivileged ` + "`_apt`" + ` user), and each is written atomically: a temporary file in the same
directory, synced, given its owner and mode, renamed. The key is renamed into place
before the file that names it. ` + "`/etc/apt/keyrings`" + ` is created (0755) when missing. A
directory, a symbolic link or any other non-regular file at one of these paths is an
error at plan time.

**apt checks the change.** After writing, pinery has apt read every source
(` + "`apt-get indextargets`" + `, which fetches nothing), so that a source that conflicts with
another file (the same repository with another ` + "`Signed-By`" + `) or that apt cannot parse
is caught at once instead of breaking every later apt run. Then, when ` + "`update`" + ` and
` + "`enabled`" + ` are true and the file or the key changed, it refreshes this source's lists
only:

    apt-get update -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/NAME.sources \
      -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0

which fetches its indexes and leaves the other sources' lists alone. apt-get update
reports several failures as warnings and may exit 0; pinery reads its output and takes
any ` + "`E:`" + ` line, a signature problem (` + "`NO_PUBKEY`, `EXPKEYSIG`" + `, "is not signed"), an index it
could not fetch, a missing ` + "`Release`" + ` file, a component the repository does not have or a
hash mismatch as a refusal. **A refused change is undone**: the previous files are put
back (or the new ones removed) and the apply fails quoting apt's reason, with a hint
(for ` + "`NO_PUBKEY`" + `, the id of the key that signed the repository). The next plan shows the
same change again. With ` + "`update = false`" + ` the files are written after the parse check, and
nothing fetches from the source until the next ` + "`apt-get update`" + `.

**Packages from this source.** A ` + "`package`" + ` that installs from this source must be
ordered after it: ` + "`depends_on = [apt_source.NAME]`" + `. Both work in one apply: the package's
plan says the version is "known after apply" (or "not in the apt lists yet" for a
pinned one); its apply runs one full ` + "`apt-get update`" + ` before installing (with its default
` + "`update_cache = true`" + `), because the new .sources file is newer than the lists (pinery leaves the lists directory's time as it
was after refreshing one source, so the package's freshness check is not fooled
into skipping the other sources). A key change alone needs no full update: this
source's lists were refreshed with the new key.

**Removing.** ` + "`state = \"absent\"`" + ` removes the .sources file and the key (both ` + "`pinery-NAME.asc`" + `
and ` + "`.gpg`" + `). The source's lists stay in ` + "`/var/lib/apt/lists`" + ` until the next full
` + "`apt-get update`" + `, which drops them; installed packages are not touched. Switching
between ` + "`signing_key`" + ` (.asc), a binary ` + "`signing_key_source`" + ` (.gpg) and ` + "`signed_by`" + `
removes the key pinery no longer uses.

**Not done.** One-line ` + "`sources.list`" + ` entries are not read or changed: a repository
already configured there (or in another file) with another key makes apt refuse both,
and the apply says so. The key's expiry is checked by apt, not at plan time. The lists
are refreshed only when this resource changes, not on every run.`

const example = `apt_source "pinery" {
  uris          = ["https://apt.example.org/pinery"]
  suites        = ["bookworm"]
  components    = ["main"]
  architectures = ["arm64", "amd64"]
  signing_key   = file("keys/pinery-archive.asc")
}

package "moosefs" {
  name       = "moosefs-chunkserver"
  version    = "3.0.117-1"
  depends_on = [apt_source.pinery]
}

apt_source "debian_updates" {
  uris       = ["http://deb.debian.org/debian"]
  suites     = ["bookworm-updates"]
  components = ["main"]
  signed_by  = "/usr/share/keyrings/debian-archive-keyring.gpg"
  options    = { "Check-Valid-Until" = "no" }
}

apt_source "old_repo" {
  state = "absent"
}`
