package build

const doc = `Builds software on a builder host of the inventory (typically an arm64 board, for the
packages upstream does not ship), collects the result to the controller and packages it
as a .deb (deb(5): written by pinery itself, in the layout nfpm gives it). Target the resource at the builder
(one host per architecture: ` + "`when = host.name == \"builder1\"`" + `, or a group of one); the
controller's part (reading the source, downloading an archive, packaging, writing the
output) runs in the pinery process.

**The recipe.** Exactly one source: ` + "`source_dir`" + ` (a directory next to the state, shipped
as a tar stream), ` + "`source_url`" + ` with ` + "`source_sha256`" + ` (an archive the controller downloads,
checks and caches: boards often have no internet) or ` + "`source_git`" + ` with ` + "`source_ref`" + `, a
full commit hash (cloned on the builder). ` + "`build_depends`" + ` are installed with apt when one
is missing. Then ` + "`script`" + ` runs as root with ` + "`sh -e`" + ` in the unpacked source, with
` + "`DESTDIR`" + `, ` + "`PINERY_ARCH`" + ` and ` + "`JOBS`" + ` set: it builds and installs into ` + "`$DESTDIR`" + `
(` + "`make -j\"$JOBS\" && make install DESTDIR=\"$DESTDIR\" PREFIX=/usr`" + `). Everything happens in
` + "`/var/lib/pinery/builds/NAME/`" + ` on the builder: ` + "`work/`" + ` is removed and made afresh for each
build; after a successful one, DESTDIR is kept as ` + "`dest/`" + ` and ` + "`work/`" + ` removed (a failed
build leaves ` + "`work/`" + ` for a look). The script runs as root: use a builder you trust the
recipe with, and builds from sources you trust.

**The cache.** A build is identified by a key: the SHA-256 of the source (the directory's
names, executable bits, contents and link targets; the archive's checksum; the commit),
the script, ` + "`build_depends`" + ` and the builder's architecture. The controller records, in
` + "`OUTPUT/NAME_ARCH.buildkey`" + `, that key, the packaging fields and the SHA-256 of each file
it wrote. When the record matches the desired inputs and the files are intact, the plan
is empty: an unchanged build does nothing, whatever the builder holds. Otherwise:

- a changed input rebuilds, and the plan says which (` + "`source: tree:1a2b… → tree:3c4d…`" + `,
  ` + "`script: sha256:… → sha256:…`" + `, ` + "`build_depends`" + `); the first build shows ` + "`+ build`" + `;
- a changed ` + "`deb_*`" + ` field or ` + "`artifacts`" + ` repackages, without building, what the builder
  kept from its last build (` + "`/var/lib/pinery/builds/NAME/dest`" + `, recorded with its key in
  ` + "`/var/lib/pinery/builds/NAME/key`" + `), and the plan shows the field
  (` + "`deb_version: 1.0-1 → 1.1-1`" + `);
- a missing or edited output file, or a fresh checkout of the site (a CI controller),
  collects the output again from the builder, without building, when the builder holds
  the same build; otherwise it rebuilds.

**Failure.** A failed build (source, build dependencies or script) fails the resource with
the last 40 lines of its log in the error, and the paths of the log on the builder
(` + "`/var/lib/pinery/builds/NAME/build.log`" + `) and on the controller (` + "`OUTPUT/NAME_ARCH.log`" + `,
its last 16 MiB, kept after every build). The build's output goes to that file, never
through the SSH session, so a chatty build costs no memory on the controller. The
previous build's files in the output directory are left as they were; the builder's kept
output is gone, so the next change, even of a ` + "`deb_*`" + ` field, builds again. A failed build
is built again by the next apply.

**The output.** The builder's DESTDIR comes back as one tar stream (at most 256 MiB, the
transport's limit) and is unpacked into a private staging directory. It is treated as
hostile input: absolute names, ` + "`..`" + `, names through symbolic links, hard links that do not
point to a file of the archive, relative symbolic links that leave the tree, devices
and fifos are refused. Every file of the package is owned by root, with the mode it had in
DESTDIR (set-uid bits included). In ` + "`output_dir`" + ` (default ` + "`.pinery/build/NAME`" + ` next to
the declaring file):

| file | what |
|---|---|
| ` + "`DEBNAME_VERSION_ARCH.deb`" + ` | the package, when ` + "`deb_version`" + ` is set (no epoch in the name) |
| ` + "`ARCH/PATH`" + ` | each regular file of DESTDIR matching ` + "`artifacts`" + ` |
| ` + "`NAME_ARCH.buildkey`" + ` | the record, written last |
| ` + "`NAME_ARCH.log`" + ` | the last build's log |

Each file is written atomically (a temporary file in the same directory, synced, then
renamed). Files of the previous build that this one does not write again (an older
version's .deb) are removed. The names are known when the state is written, so another
resource can name them, relative to the same directory as the build's: an ` + "`apt_repo`" + `
publishes them with ` + "`packages = [\".pinery/build/hello/hello_1.0-1_arm64.deb\"]`" + ` or
` + "`packages = fileset(path.module, \".pinery/build/*/*.deb\")`" + `. Functions read the
controller's files when the state is loaded, so a package built in a run is published by
the next run (or a later stage of a rollout).

**Packaging.** Setting ` + "`deb_version`" + ` (and ` + "`deb_maintainer`" + `) makes a .deb of the whole
DESTDIR: Package, Version, Architecture (the builder's, or ` + "`deb_arch`" + `), Maintainer,
Description, Section, Priority, Homepage and the relation fields, ` + "`deb_conffiles`" + ` and
the maintainer scripts of ` + "`deb_scripts`" + `. The same staged tree always gives the same bytes
(times are the newest file's). Nothing is derived from the binaries: there is no
` + "`dpkg-shlibdeps`" + `, so list the shared libraries a program needs in ` + "`deb_depends`" + `.

**systemd units** are files like any other: install them into
` + "`$DESTDIR/lib/systemd/system/`" + ` in the script. The package does not enable or start them
unless a ` + "`deb_scripts`" + ` postinst does (` + "`systemctl daemon-reload`" + `, then
` + "`deb-systemd-helper enable hello.service`" + ` and ` + "`deb-systemd-invoke start hello.service`" + `,
as debhelper writes it); the usual way with pinery is a ` + "`service`" + ` resource on the hosts
that install the package, which keeps the unit enabled and running and restarts it when
the package changes (` + "`watch`" + ` the ` + "`package`" + ` resource that installs it).

**Ready-made .deb files** (a vendor's, or one built elsewhere) need no build: list them
in the ` + "`apt_repo`" + `'s ` + "`packages`" + ` beside the built ones.

**Limits.** One builder per architecture for a given build (and one builder for an
` + "`all`" + ` package): builders of the same architecture would write the same files. The builder
runs Debian or a derivative (dpkg, apt, GNU tar). Builds are not sandboxed. pinery does
not cross-compile: a package's Architecture is its builder's unless ` + "`deb_arch`" + ` says
otherwise (for ` + "`all`" + `, or a script that cross-compiles itself).`

const example = `build "hello" {
  when          = host.name == "h4"   # the arm64 builder
  source_dir    = "src/hello"
  build_depends = ["gcc", "libc6-dev", "make"]
  script        = <<-EOT
    make -j"$JOBS"
    make install DESTDIR="$DESTDIR" PREFIX=/usr
    install -D -m 0644 hello.service "$DESTDIR/lib/systemd/system/hello.service"
  EOT

  deb_version    = "1.0-1"
  deb_maintainer = "Ops Team <ops@example.org>"
  deb_description = "Says hello"
  deb_depends    = ["libc6 (>= 2.36)"]
  deb_conffiles  = ["/etc/hello.conf"]
}

build "moosefs" {
  when          = host.name == "rock64-1"
  source_url    = "https://github.com/moosefs/moosefs/archive/refs/tags/v4.56.6.tar.gz"
  source_sha256 = "0c3d1d3e7f0c2f7f3b0a8f4e6b1d5a9c2e7f4b8a1d3c5e7f9a2b4c6d8e0f1a3b" # sha256sum of the archive
  build_depends = ["build-essential", "autoconf", "automake", "libtool", "pkg-config", "zlib1g-dev", "libfuse3-dev"]
  script        = <<-EOT
    ./linux_build.sh --prefix=/usr
    make install DESTDIR="$DESTDIR"
  EOT
  artifacts = ["usr/sbin/mfsmaster"]

  deb_name       = "moosefs-master"
  deb_version    = "4.56.6-1"
  deb_maintainer = "Render Team <render@example.org>"
  deb_depends    = ["libc6", "zlib1g", "libfuse3-3"]
  deb_scripts = {
    postinst = <<-EOT
      if [ "$1" = configure ]; then adduser --system --group --no-create-home mfs; fi
    EOT
  }
}`
