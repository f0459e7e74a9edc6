# builder: the recipes that build what upstream does not ship for arm64, on a
# builder board of the fleet, as .deb packages and Python wheels collected to
# the controller (see docs/packages.md). Target the role at one builder per
# architecture; publish what it produces with the aptrepo role (apt_repo and
# its wheelhouse) in a later apply.
#
# MooseFS: each component (master, chunkserver, client, ...) is its own build
# of the upstream release tarball with only that component enabled, packaged
# as moosefs-COMPONENT. Python wheels: the sdists in a directory on the
# controller (e.g. `pip download --no-binary :all: --no-deps`) are built into
# wheels on the builder, with build backends from Debian (no index needed).

variable "output_dir" {
  type        = string
  description = "Absolute directory on the controller for everything built (e.g. \"$${path.module}/packages\"): the .debs land in it, wheels under ARCH/wheels/."
  validation {
    condition     = startswith(var.output_dir, "/")
    error_message = "output_dir must be absolute: pass \"$${path.module}/packages\" from the site."
  }
}

variable "maintainer" {
  type        = string
  default     = "Fleet builder <root@localhost>"
  description = "Maintainer field of the packages built."
}

variable "moosefs" {
  type = object({
    version    = string
    sha256     = string
    url        = optional(string, "")
    revision   = optional(string, "1")
    components = optional(set(string), ["master", "chunkserver", "client"])
  })
  default     = null
  description = "Build MooseFS VERSION from its release tarball (sha256 of the tarball required: download it once and run sha256sum). url defaults to the GitHub tag archive."
}

variable "wheels" {
  type = object({
    sdists_dir    = string
    build_depends = optional(list(string), [])
    name          = optional(string, "wheels")
  })
  default     = null
  description = "Build every sdist in sdists_dir (absolute, on the controller) into a wheel on the builder. build_depends: extra Debian packages (headers, build backends such as python3-setuptools-rust)."
}

locals {
  mfs_flags = {
    master      = "--disable-mfschunkserver --disable-mfsmount --disable-mfsbdev --disable-mfscgi --disable-mfscgiserv --disable-mfscli --disable-mfsmetalogger --disable-mfsnetdump --disable-mfssupervisor"
    chunkserver = "--disable-mfsmaster --disable-mfsmount --disable-mfsbdev --disable-mfscgi --disable-mfscgiserv --disable-mfscli --disable-mfsmetalogger --disable-mfsnetdump --disable-mfssupervisor"
    client      = "--disable-mfsmaster --disable-mfschunkserver --disable-mfscgi --disable-mfscgiserv --disable-mfsmetalogger --disable-mfssupervisor"
    metalogger  = "--disable-mfsmaster --disable-mfschunkserver --disable-mfsmount --disable-mfsbdev --disable-mfscgi --disable-mfscgiserv --disable-mfscli --disable-mfsnetdump --disable-mfssupervisor"
    cgi         = "--disable-mfsmaster --disable-mfschunkserver --disable-mfsmount --disable-mfsbdev --disable-mfsmetalogger --disable-mfsnetdump --disable-mfssupervisor"
  }
  mfs_depends = {
    master      = ["libc6", "zlib1g", "adduser"]
    chunkserver = ["libc6", "zlib1g", "adduser"]
    client      = ["libc6", "zlib1g", "libfuse3-3", "libpcap0.8", "fuse3"]
    metalogger  = ["libc6", "zlib1g", "adduser"]
    cgi         = ["python3"]
  }
  mfs = var.moosefs == null ? {} : { for c in var.moosefs.components : c => var.moosefs }
}

build "moosefs" {
  for_each        = local.mfs
  name            = "moosefs-${each.key}"
  source_url      = each.value.url != "" ? each.value.url : "https://github.com/moosefs/moosefs/archive/refs/tags/v${each.value.version}.tar.gz"
  source_sha256   = each.value.sha256
  build_depends   = ["build-essential", "autoconf", "automake", "libtool", "pkg-config", "zlib1g-dev", "libfuse3-dev", "libpcap-dev"]
  script          = <<-EOT
    [ -x ./configure ] || autoreconf -fi
    ./configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var/lib \
      --with-default-user=mfs --with-default-group=mfs ${local.mfs_flags[each.key]}
    make -j"$JOBS"
    make install DESTDIR="$DESTDIR"
  EOT
  output_dir      = var.output_dir
  deb_name        = "moosefs-${each.key}"
  deb_version     = "${each.value.version}-${each.value.revision}"
  deb_maintainer  = var.maintainer
  deb_description = "MooseFS ${each.key}, built by pinery\nMooseFS ${each.value.version} (the ${each.key} only), built from the upstream release for this fleet."
  deb_homepage    = "https://moosefs.com"
  deb_license     = "GPL-2.0-only"
  deb_depends     = local.mfs_depends[each.key]
  deb_scripts     = { postinst = templatefile("templates/mfs-postinst.tmpl", { unit = "" }) }
}

build "wheels" {
  count         = var.wheels == null ? 0 : 1
  name          = var.wheels.name
  source_dir    = var.wheels.sdists_dir
  build_depends = concat(["python3-pip", "python3-setuptools", "python3-wheel", "python3-dev", "build-essential"], var.wheels.build_depends)
  # Without build isolation pip uses the build backends installed from
  # Debian: the builder needs no package index.
  script     = <<-EOT
    mkdir -p "$DESTDIR/wheels"
    set -- ./*.tar.gz ./*.zip
    for s in "$@"; do
      [ -e "$s" ] || continue
      python3 -m pip wheel --no-deps --no-index --no-build-isolation \
        --disable-pip-version-check --no-cache-dir -w "$DESTDIR/wheels" "$s"
    done
    ls "$DESTDIR"/wheels/*.whl >/dev/null
  EOT
  output_dir = var.output_dir
  artifacts  = ["wheels/*.whl"]
}

output "debs_dir" {
  value = var.output_dir
}
