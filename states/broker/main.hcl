# broker: a Redis job queue for a fleet's workers (the render role's
# Celery broker and result backend). Debian's redis-server, listening on
# the board's own address and on loopback, behind a password, with memory
# capped from the board's RAM and an eviction policy that never drops a
# queued job, and an append-only file so queued jobs survive a restart.

variable "password" {
  type        = string
  sensitive   = true
  description = "The password clients give (Redis requirepass): 16 to 256 letters, digits and `.` `_` `~` `-`, the characters a URL carries as they are (`openssl rand -hex 24` prints one)."
  validation {
    condition     = can(regex("^[A-Za-z0-9._~-]{16,256}$", var.password))
    error_message = "password must be 16 to 256 letters, digits and . _ ~ - (try openssl rand -hex 24)."
  }
}

variable "port" {
  type        = number
  default     = 6379
  description = "TCP port Redis listens on."
  validation {
    condition     = var.port > 0 && var.port < 65536
    error_message = "port is a TCP port (1-65535)."
  }
}

variable "bind" {
  type        = list(string)
  default     = null
  description = "IP addresses Redis listens on. Unset: the host's inventory address (or, when that is a name, its primary IPv4 fact) and 127.0.0.1."
  validation {
    condition     = length([for a in coalesce(var.bind, ["127.0.0.1"]) : a if !can(regex("^[0-9a-fA-F.:]+$", a))]) == 0
    error_message = "bind lists IP addresses (Redis cannot listen on a host name)."
  }
}

variable "maxmemory_percent" {
  type        = number
  default     = 10
  description = "Share of the board's RAM Redis may use for data, in percent, when maxmemory_mb is unset."
  validation {
    condition     = var.maxmemory_percent >= 1 && var.maxmemory_percent <= 80
    error_message = "maxmemory_percent is between 1 and 80."
  }
}

variable "maxmemory_mb" {
  type        = number
  default     = null
  description = "Memory Redis may use for data, in MiB. Unset: maxmemory_percent of the board's RAM, at least 32."
  validation {
    condition     = coalesce(var.maxmemory_mb, 8) >= 8
    error_message = "maxmemory_mb is at least 8 (MiB)."
  }
}

variable "appendfsync" {
  type        = string
  default     = "everysec"
  description = "When the append-only file is flushed to disk: `everysec` (a power cut loses at most about a second of writes), `always` (nothing lost, much slower on SD cards) or `no` (the kernel decides)."
  validation {
    condition     = contains(["everysec", "always", "no"], var.appendfsync)
    error_message = "appendfsync is everysec, always or no."
  }
}

locals {
  # Redis binds IP addresses only: an inventory address that is a name is
  # replaced by the board's primary IPv4.
  host_ip   = can(cidrhost("${host.address}/32", 0)) ? host.address : fact.primary_ipv4
  bind      = var.bind != null ? var.bind : distinct([local.host_ip, "127.0.0.1"])
  reachable = [for a in local.bind : a if !can(regex("^(127\\.|::1$)", a))]
  address   = length(local.reachable) > 0 ? local.reachable[0] : local.bind[0]
  maxmemory = var.maxmemory_mb != null ? var.maxmemory_mb : max(32, floor(fact.memory_mb * var.maxmemory_percent / 100))
}

package "redis" {
  name = "redis-server"
}

# The password lives in a file of its own, so that the main configuration
# is not sensitive and its changes show as diffs in plans.
file "auth" {
  path       = "/etc/redis/pinery-auth.conf"
  content    = "# Managed by pinery (role broker).\nrequirepass ${var.password}\n"
  owner      = "redis"
  group      = "redis"
  mode       = "0640"
  depends_on = [package.redis]
}

file "config" {
  path = "/etc/redis/redis.conf"
  content = templatefile("templates/redis.conf.tmpl", {
    bind        = local.bind
    port        = var.port
    maxmemory   = local.maxmemory
    appendfsync = var.appendfsync
    auth        = file.auth.path
  })
  owner      = "redis"
  group      = "redis"
  mode       = "0640"
  depends_on = [package.redis]
}

service "redis" {
  name    = "redis-server"
  enabled = true
  watch   = [file.config, file.auth]
}

# Ready when Redis accepts connections again after a (re)start.
wait_for "redis" {
  port       = var.port
  host       = contains(local.bind, "127.0.0.1") ? "127.0.0.1" : local.bind[0]
  timeout    = 120
  depends_on = [service.redis]
  watch      = [service.redis]
}

output "url" {
  description = "The broker's URL for Celery and other clients, with the password: redis://:PASSWORD@ADDRESS:PORT/0."
  value       = "redis://:${var.password}@${local.address}:${var.port}/0"
  sensitive   = true
}

output "address" {
  description = "The address clients reach Redis at (the first of bind that is not loopback)."
  value       = local.address
}

output "port" {
  description = "The TCP port."
  value       = var.port
}

output "maxmemory_mb" {
  description = "The memory cap Redis was given, in MiB: the rest of the board is for others."
  value       = local.maxmemory
}
