# aptrepo: the host that serves a fleet's own apt repository. nginx serves
# the repository directory; when packages and a signing key are given, the
# role also publishes them there (signed, with immutable snapshots and an
# atomic switch, see the apt_repo module), so that one apply builds the
# repository and serves it. Boards consume it with an apt_source resource.

variable "path" {
  type        = string
  default     = "/srv/apt"
  description = "Directory of the repository on the host; nginx serves it at /."
}

variable "port" {
  type        = number
  default     = 80
  description = "TCP port nginx listens on for the repository."
  validation {
    condition     = var.port > 0 && var.port < 65536
    error_message = "port is a TCP port (1-65535)."
  }
}

variable "server_name" {
  type        = string
  default     = "_"
  description = "nginx server_name of the repository's site (`_`: any name)."
}

variable "default_site" {
  type        = bool
  default     = false
  description = "Make the repository nginx's default site (answers requests for any name, e.g. by address) and disable Debian's own default site."
}

variable "packages" {
  type        = list(string)
  default     = []
  description = "The .deb files on the controller to publish (absolute paths: \"$${path.module}/packages/x.deb\" or a fileset()). Empty: the role only serves what `pinery repo publish` put there."
}

variable "suite" {
  type        = string
  default     = "stable"
  description = "The suite the packages are published to (apt's Suites:)."
}

variable "component" {
  type    = string
  default = "main"
}

variable "architectures" {
  type    = list(string)
  default = ["arm64", "armhf", "amd64"]
}

variable "signing_key" {
  type        = string
  default     = ""
  sensitive   = true
  description = "ASCII-armoured OpenPGP secret key that signs the repository; required with packages. Give it from an encrypted var file."
}

variable "keep" {
  type        = number
  default     = 5
  description = "Snapshots of the suite kept, the current one included."
}

variable "wheels" {
  type        = list(string)
  default     = []
  description = "Python wheels on the controller (absolute paths, from a fileset() of a build's output directory), served as a PEP 503 simple index under /wheels/simple/ for pip's --index-url (the python_venv module's index_url)."
}

locals {
  # PEP 503: a project's name normalized; a wheel's file name starts with
  # its distribution name (PEP 427, with - written as _).
  wheels = { for p in var.wheels : basename(p) => p }
  projects = {
    for name, p in local.wheels : lower(regex_replace(split("-", name)[0], "[-_.]+", "-")) => name...
  }
}

directory "root" {
  path = var.path
  mode = "0755"
}

apt_repo "repo" {
  count         = length(var.packages) > 0 ? 1 : 0
  path          = directory.root.path
  suite         = var.suite
  component     = var.component
  packages      = var.packages
  signing_key   = var.signing_key
  architectures = var.architectures
  keep          = var.keep
}

directory "wheels" {
  for_each = toset(length(var.wheels) > 0 ? ["files", "simple"] : [])
  path     = "${directory.root.path}/wheels/${each.key}"
  mode     = "0755"
  parents  = true
}

file "wheel" {
  for_each   = local.wheels
  path       = "${directory.root.path}/wheels/files/${each.key}"
  source     = each.value
  depends_on = [directory.wheels]
}

file "wheel_index" {
  for_each = local.projects
  path     = "${directory.root.path}/wheels/simple/${each.key}/index.html"
  parents  = true
  content = templatefile("templates/project.html.tmpl", {
    project = each.key
    files   = { for f in each.value : f => filesha256(local.wheels[f]) }
  })
  depends_on = [directory.wheels]
}

file "wheel_root_index" {
  count      = length(var.wheels) > 0 ? 1 : 0
  path       = "${directory.root.path}/wheels/simple/index.html"
  content    = templatefile("templates/simple.html.tmpl", { projects = sort(keys(local.projects)) })
  depends_on = [directory.wheels]
}

package "nginx" {
  name = "nginx-light"
}

file "site" {
  path = "/etc/nginx/sites-available/pinery-aptrepo"
  content = templatefile("templates/site.conf.tmpl", {
    port        = var.port
    root        = directory.root.path
    server_name = var.server_name
    default     = var.default_site
  })
  depends_on = [package.nginx]
}

symlink "site" {
  path       = "/etc/nginx/sites-enabled/pinery-aptrepo"
  target     = "../sites-available/pinery-aptrepo"
  depends_on = [file.site]
}

symlink "debian_default" {
  count      = var.default_site ? 1 : 0
  path       = "/etc/nginx/sites-enabled/default"
  state      = "absent"
  depends_on = [package.nginx]
}

service "nginx" {
  name       = "nginx"
  state      = "running"
  enabled    = true
  reload     = true
  watch      = [file.site, symlink.site, symlink.debian_default]
  depends_on = [package.nginx]
}

output "wheel_index_url" {
  value = var.port == 80 ? "http://${host.address}/wheels/simple/" : "http://${host.address}:${var.port}/wheels/simple/"
}

output "url" {
  value = var.port == 80 ? "http://${host.address}/" : "http://${host.address}:${var.port}/"
}
