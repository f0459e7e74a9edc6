# frontproxy: the one front node that reverse-proxies every service to the
# boards behind it. Each service names a role of the site; its upstream is
# every host that role targets (from the inventory), so adding a board with
# that role to the inventory adds it to the proxy in the same apply. The
# whole nginx configuration is checked with `nginx -t` before it replaces the
# running one (a bad configuration never does), and nginx is reloaded, not
# restarted, when it changes. `pinery-front drain|undrain ADDRESS` takes a
# board out of every upstream while a rollout applies it.

variable "services" {
  type = map(object({
    role = string
    port = number
    path = optional(string, "/")
  }))
  description = "Service name → the site role whose hosts serve it, their port, and the URL path routed to them."
  validation {
    condition     = alltrue([for s in values(var.services) : s.port > 0 && s.port < 65536 && startswith(s.path, "/")])
    error_message = "Each service needs a TCP port (1-65535) and a path starting with /."
  }
}

variable "server_name" {
  type        = string
  default     = "_"
  description = "nginx server_name of the front site (`_`: any name)."
}

variable "http_port" {
  type    = number
  default = 80
}

variable "https_port" {
  type    = number
  default = 443
}

variable "tls_certificate" {
  type        = string
  default     = ""
  description = "PEM certificate chain. When set (with tls_key), the proxy serves HTTPS and redirects HTTP to it."
}

variable "tls_key" {
  type        = string
  default     = ""
  sensitive   = true
  description = "PEM private key of the certificate (kept readable by root only)."
}

variable "max_fails" {
  type        = number
  default     = 2
  description = "Failed attempts after which nginx takes an upstream host out for fail_timeout."
}

variable "fail_timeout" {
  type    = string
  default = "10s"
}

variable "client_max_body_size" {
  type    = string
  default = "16m"
}

locals {
  # Decided by the certificate alone: a condition on the (sensitive) key
  # would make the whole nginx configuration sensitive in plans.
  tls = var.tls_certificate != ""
  services = {
    for name, s in var.services : name => {
      role    = s.role
      path    = s.path
      servers = [for h in lookup(inventory.roles, s.role, []) : "${inventory.hosts[h].address}:${s.port}"]
    }
  }
}

package "nginx" {
  name = "nginx-light"
}

file "tls_cert" {
  count      = local.tls ? 1 : 0
  path       = "/etc/nginx/pinery-front.crt"
  content    = var.tls_certificate
  mode       = "0644"
  depends_on = [package.nginx]
}

file "tls_key" {
  count      = local.tls ? 1 : 0
  path       = "/etc/nginx/pinery-front.key"
  content    = var.tls_key
  mode       = "0600"
  depends_on = [package.nginx]
}

file "nginx_conf" {
  path = "/etc/nginx/nginx.conf"
  content = templatefile("templates/nginx.conf.tmpl", {
    services             = local.services
    server_name          = var.server_name
    http_port            = var.http_port
    https_port           = var.https_port
    tls                  = local.tls
    tls_cert_path        = "/etc/nginx/pinery-front.crt"
    tls_key_path         = "/etc/nginx/pinery-front.key"
    worker_connections   = 1024
    client_max_body_size = var.client_max_body_size
    max_fails            = var.max_fails
    fail_timeout         = var.fail_timeout
  })
  validate   = "nginx -t -q -c %s"
  depends_on = [package.nginx, file.tls_cert, file.tls_key]
}

service "nginx" {
  name       = "nginx"
  state      = "running"
  enabled    = true
  reload     = true
  watch      = [file.nginx_conf, file.tls_cert, file.tls_key]
  depends_on = [package.nginx]
}

# pinery-front drain|undrain ADDRESS: takes a board out of every upstream
# while a rollout applies it (apply --drain, a stage's drain block).
file "pinery_front" {
  path    = "/usr/local/sbin/pinery-front"
  content = file("${path.module}/files/pinery-front")
  mode    = "0755"
}

output "upstreams" {
  value = { for name, s in local.services : name => s.servers }
}
