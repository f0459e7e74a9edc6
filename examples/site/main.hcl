# The example site: a motd written from facts, nginx serving a small
# directory tree, and a templated nginx site that reloads nginx when it
# changes. Run it on the test fleet with `make demo`.

variable "greeting" {
  type        = string
  default     = "Managed by pinery. Local changes will be overwritten."
  description = "First line of the login message."
}

variable "listen_port" {
  type    = number
  default = 80
  validation {
    condition     = var.listen_port > 0 && var.listen_port < 65536
    error_message = "listen_port must be a TCP port (1-65535)."
  }
}

locals {
  www = "/srv/www"
}
