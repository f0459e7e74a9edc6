# web: nginx serving a small directory tree. A change to the nginx site
# file reloads nginx (watch); a change to the pages does not.

variable "listen_port" {
  type    = number
  default = 80
}

variable "status_token" {
  type        = string
  sensitive   = true
  description = "Token for the status page, kept readable by root only."
}

variable "static_files" {
  type        = map(string)
  default     = {}
  description = "Files under /static: name → content."
}

locals {
  www = "/srv/www"
}

package "nginx" {
  name = "nginx-light"
}

directory "www" {
  path = local.www
  mode = "0755"
}

directory "static" {
  path = "${directory.www.path}/static"
  mode = "0755"
}

file "index" {
  path = "${directory.www.path}/index.html"
  content = templatefile("templates/index.html.tmpl", {
    host = host.name
    arch = fact.arch
  })
}

file "static" {
  for_each = var.static_files
  path     = "${directory.static.path}/${each.key}"
  content  = each.value
}

file "status_token" {
  path       = "/etc/nginx/status.token"
  content    = "${var.status_token}\n"
  mode       = "0600"
  depends_on = [package.nginx]
}

file "site" {
  path = "/etc/nginx/sites-available/default"
  content = templatefile("templates/site.conf.tmpl", {
    port = var.listen_port
    root = directory.www.path
  })
  depends_on = [package.nginx]
}

service "nginx" {
  name       = "nginx"
  state      = "running"
  enabled    = true
  reload     = true
  watch      = [file.site]
  depends_on = [package.nginx]
}

output "url" {
  value = "http://${host.address}:${var.listen_port}/"
}
