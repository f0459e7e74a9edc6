# Synapse workers (docs/roles/homeserver.md, "Workers"): with workers = true
# Synapse runs as several processes on the board, each with its own unit
# and MemoryMax cut from Synapse's share: the main process, generic workers
# (sync, client reads, login, event sending, federation requests) and a
# federation sender. They talk over Redis (the broker role, on loopback,
# unless redis_host names another) and the main process's replication
# listener. nginx on the board takes Synapse's public port and routes the
# endpoints workers serve to them, the rest to the main process; the front
# proxy still sends /_matrix to the board's `port`, as without workers.

variable "workers" {
  type        = bool
  default     = false
  description = "Split Synapse into a main process, generic workers and a federation sender on this board, with Redis and nginx routing (the memory model splits Synapse's share between them)."
}

variable "generic_workers" {
  type        = number
  default     = null
  description = "How many generic workers. Unset: one per 640 MiB of Synapse's share, 1 to 4 (a 4 GB board gets 2)."
  validation {
    condition     = var.generic_workers == null || (floor(coalesce(var.generic_workers, 1)) == coalesce(var.generic_workers, 1) && coalesce(var.generic_workers, 1) >= 1 && coalesce(var.generic_workers, 1) <= 16)
    error_message = "generic_workers is a whole number from 1 to 16."
  }
}

variable "worker_port" {
  type        = number
  default     = 8010
  description = "First of the loopback ports the processes listen on with workers: the main process's HTTP listener, then its replication listener, the federation sender's health listener and each generic worker's (worker_port + 2 + N)."
  validation {
    condition     = var.worker_port >= 1024 && var.worker_port <= 65000
    error_message = "worker_port is from 1024 to 65000 (the ports after it are used too)."
  }
}

variable "redis_host" {
  type        = string
  default     = null
  description = "The Redis the Synapse processes replicate through. Unset: the broker role on this board, listening on 127.0.0.1 only, with redis_password."
}

variable "redis_port" {
  type        = number
  default     = 6379
  description = "The Redis port."
  validation {
    condition     = var.redis_port > 0 && var.redis_port < 65536
    error_message = "redis_port is a TCP port (1-65535)."
  }
}

variable "redis_password" {
  type        = string
  default     = null
  sensitive   = true
  description = "The Redis password (required for the Redis on this board; give it from an encrypted var file). Synapse reads it from /etc/synapse/redis_password."
  validation {
    condition     = var.redis_password == null || can(regex("^[A-Za-z0-9._~-]{16,256}$", coalesce(var.redis_password, "x")))
    error_message = "redis_password is 16 to 256 letters, digits and . _ ~ - (try openssl rand -hex 24)."
  }
}

locals {
  local_redis = var.workers && var.redis_host == null
  redis_auth  = nonsensitive(var.redis_password != null)
  redis_ok    = tonumber(local.local_redis && !local.redis_auth ? "with workers and no redis_host, redis_password is required: the role runs Redis on this board" : "0")

  # Synapse's share, split by weight: the main process 4, each generic
  # worker 3, the federation sender 2 (it holds no client caches).
  generic_count = var.workers ? (var.generic_workers != null ? var.generic_workers : max(1, min(4, floor(local.synapse_max_mb / 640)))) : 0
  weights       = var.workers ? 4 + 3 * local.generic_count + 2 : 1
  main_max_mb   = floor(local.synapse_max_mb * (var.workers ? 4 : 1) / local.weights) + local.redis_ok
  # Each worker: its kind, loopback port, MemoryMax and HTTP resources.
  worker_list = concat(
    var.workers ? [{ name = "federation_sender1", port = var.worker_port + 2, max_mb = floor(local.synapse_max_mb * 2 / local.weights), resources = ["health"] }] : [],
    [for i in range(1, local.generic_count + 1) : { name = "generic_worker${i}", port = var.worker_port + 2 + i, max_mb = floor(local.synapse_max_mb * 3 / local.weights), resources = ["client", "federation"] }],
  )
  worker_procs = { for w in local.worker_list : w.name => merge(w, {
    high_mb = floor(w.max_mb * 0.9)
    cache   = var.cache_factor != null ? var.cache_factor : max(0.1, min(2, floor(w.max_mb / 4096 * 20) / 20))
  }) }
  # Python, Twisted and Synapse's code take about 100 MiB before any cache.
  small_ok = tonumber(length([for w in local.worker_list : w if w.max_mb < 128]) == 0 ? "0" : "Synapse's share (${local.synapse_max_mb} MiB) is too small for ${local.generic_count} generic workers: every process needs at least 128 MiB (fewer generic_workers, a larger synapse_share, or no workers)")
  workers     = { for k, w in local.worker_procs : k => w if local.small_ok == 0 }
  generic     = [for w in local.worker_list : w if w.name != "federation_sender1"]
  workers_dir = "/etc/synapse/workers"
}

file "redis_password" {
  count      = var.workers && local.redis_auth ? 1 : 0
  path       = "/etc/synapse/redis_password"
  content    = var.redis_password
  owner      = "root"
  group      = "synapse"
  mode       = "0640"
  depends_on = [directory.etc]
}

directory "workers" {
  count      = var.workers ? 1 : 0
  path       = local.workers_dir
  mode       = "0750"
  group      = "synapse"
  depends_on = [directory.etc]
}

file "worker" {
  for_each = local.workers
  path     = "${local.workers_dir}/${each.key}.yaml"
  content = templatefile("templates/worker.yaml.tmpl", {
    name         = each.key
    port         = each.value.port
    resources    = each.value.resources
    cache_factor = each.value.cache
  })
  owner      = "root"
  group      = "synapse"
  mode       = "0640"
  depends_on = [directory.workers]
}

systemd_unit "worker" {
  count = var.workers ? 1 : 0
  name  = "synapse-worker@.service"
  content = templatefile("templates/synapse-worker@.service.tmpl", {
    venv        = local.venv
    config      = local.config
    workers_dir = local.workers_dir
    redis_unit  = local.local_redis ? "redis-server.service" : ""
  })
}

# Each worker's share of memory, as a drop-in of its instance.
systemd_unit "worker_memory" {
  for_each = local.workers
  name     = "synapse-worker@${each.key}.service"
  dropin   = "50-memory"
  content  = "# Managed by pinery (role homeserver): ${each.key}'s share of Synapse's memory.\n[Service]\nMemoryHigh=${each.value.high_mb}M\nMemoryMax=${each.value.max_mb}M\n"
}

# Restarted by what every Synapse process reads at start (the code,
# homeserver.yaml, key, secrets) and by the workers' own files and units;
# not by nginx or PostgreSQL. (A watch covers all instances of a repeated
# resource: one worker's file changing restarts every worker, never the
# main process.)
service "worker" {
  for_each   = local.workers
  name       = "synapse-worker@${each.key}.service"
  enabled    = true
  watch      = [python_venv.synapse, file.config, file.signing_key, file.registration_secret, file.redis_password, file.worker, systemd_unit.worker, systemd_unit.worker_memory]
  depends_on = [wait_for.synapse]
}

wait_for "worker" {
  for_each   = local.workers
  url        = "http://127.0.0.1:${each.value.port}/health"
  timeout    = 300
  interval   = 1
  watch      = [service.worker]
  depends_on = [service.worker]
}

# nginx on the board routes the endpoints workers serve to them (the list
# of Synapse's worker documentation for generic_worker), the rest to the
# main process.
package "nginx" {
  count = var.workers ? 1 : 0
  name  = "nginx-light"
}

file "nginx" {
  count = var.workers ? 1 : 0
  path  = "/etc/nginx/nginx.conf"
  content = templatefile("templates/nginx-workers.conf.tmpl", {
    listen    = [for a in local.bind_addresses : length(split(":", a)) > 1 ? "[${a}]:${var.port}" : "${a}:${var.port}"]
    main      = "127.0.0.1:${var.worker_port}"
    generic   = [for w in local.generic : "127.0.0.1:${w.port}"]
    body_size = "50m"
  })
  validate   = "nginx -t -q -c %s"
  depends_on = [package.nginx]
}

# Reloaded, not restarted, after Synapse has let go of the public port.
service "nginx" {
  count      = var.workers ? 1 : 0
  name       = "nginx"
  enabled    = true
  reload     = true
  watch      = [file.nginx]
  depends_on = [package.nginx, service.synapse, wait_for.worker]
}

wait_for "router" {
  count      = var.workers ? 1 : 0
  url        = "http://127.0.0.1:${var.port}/_matrix/client/versions"
  timeout    = 120
  interval   = 1
  watch      = [service.nginx]
  depends_on = [service.nginx]
}
