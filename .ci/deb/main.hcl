# pinery's own .deb, made by pinery's own package pipeline (make deb): the
# Makefile stages each architecture's tree (the cross-built static binary,
# man pages, shell completions, the copyright file) in STAGE/ARCH, and a
# build resource per architecture packages it with nfpm, as a fleet's own
# packages are. The binary is static (CGO_ENABLED=0): no Depends.

variable "version" {
  type        = string
  description = "The package version (Debian syntax: starts with a digit)."
}

variable "stage" {
  type        = string
  description = "Absolute path of the staged trees, one directory per Debian architecture."
}

variable "output" {
  type        = string
  description = "Absolute path of the directory the .deb files are written to."
}

variable "maintainer" {
  type    = string
  default = "pinery developers <dev@pinery.invalid>"
}

variable "archs" {
  type    = list(string)
  default = ["amd64", "arm64", "armhf"]
}

build "pinery" {
  for_each   = toset(var.archs)
  name       = "pinery-${each.key}"
  source_dir = "${var.stage}/${each.key}"
  script     = "cp -a . \"$DESTDIR/\""
  output_dir = var.output

  deb_name        = "pinery"
  deb_arch        = each.key
  deb_version     = var.version
  deb_maintainer  = var.maintainer
  deb_section     = "admin"
  deb_homepage    = "https://github.com/pinery/pinery"
  deb_description = <<-EOT
    agentless declarative configuration management for fleets of boards
    pinery reads HCL states and an inventory, connects to each host over
    SSH (or applies a signed bundle locally in pull mode), shows what
    differs and changes only that. It builds and publishes packages for
    arm64 boards and rolls out roles in batches.
  EOT
  deb_recommends  = ["openssh-client"]
}
