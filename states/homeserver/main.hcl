# homeserver: a Matrix homeserver (Synapse) with its PostgreSQL on one
# board, sized so that neither is OOM-killed: PostgreSQL, Synapse and the
# OS each get a share of the board's RAM (fact.memory_mb), systemd enforces
# Synapse's and PostgreSQL's shares (MemoryMax), and Synapse's cache
# factor follows its share. Synapse runs from a virtualenv installed from a
# wheel index (boards have no internet); the signing key and the
# registration secret are sensitive inputs, never shown. nginx in front
# (the frontproxy role) routes /_matrix and /.well-known/matrix here;
# Synapse itself answers the .well-known documents, delegating federation
# to port 443 of the public name.

variable "server_name" {
  type        = string
  description = "The Matrix server name: the part after the colon in user IDs (`@alice:example.org`). It cannot change once users exist."
  validation {
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$", var.server_name))
    error_message = "server_name is a DNS name (or an IP address), optionally with :port, like example.org."
  }
}

variable "public_baseurl" {
  type        = string
  default     = null
  description = "The URL clients reach the homeserver at, through the front proxy. Unset: https://SERVER_NAME/."
  validation {
    condition     = var.public_baseurl == null || can(regex("^https?://[^\\s/]+(/[^\\s]*)?/$", coalesce(var.public_baseurl, "x")))
    error_message = "public_baseurl is an http:// or https:// URL ending with /, like https://matrix.example.org/."
  }
}

variable "signing_key" {
  type        = string
  sensitive   = true
  description = "Synapse's signing key, as in its signing.key file: `ed25519 a_XXXX SEED` (generate with `python -m synapse._scripts.generate_signing_key` or `echo ed25519 a_$(openssl rand -hex 2) $(openssl rand -base64 32 | tr -d =)`). Other servers pin it: keep it, back it up, give it from an encrypted var file."
  validation {
    condition     = can(regex("^ed25519 a_[A-Za-z0-9_]+ [A-Za-z0-9+/]{43}=?\n?$", var.signing_key))
    error_message = "signing_key is one line `ed25519 a_ID BASE64SEED`, as Synapse's signing.key holds."
  }
}

variable "registration_shared_secret" {
  type        = string
  default     = null
  sensitive   = true
  description = "Secret that lets an administrator on the board create users (`register_new_matrix_user`). Unset: no user can be created that way."
  validation {
    condition     = var.registration_shared_secret == null || can(regex("^[A-Za-z0-9._~-]{16,256}$", coalesce(var.registration_shared_secret, "x")))
    error_message = "registration_shared_secret is 16 to 256 letters, digits and . _ ~ - (try openssl rand -hex 24)."
  }
}

variable "enable_registration" {
  type        = bool
  default     = false
  description = "Let anyone create an account through the client API. Off by default; Synapse then also needs email or captcha verification (set them in extra_config) or refuses to start."
}

variable "index_url" {
  type        = string
  description = "PEP 503 index holding the Synapse wheels and their dependencies (the aptrepo role's http://HOST:PORT/wheels/simple/). pip looks nowhere else."
}

variable "synapse_version" {
  type        = string
  default     = "1.120.2"
  description = "matrix-synapse version installed (an exact pin)."
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.synapse_version))
    error_message = "synapse_version is an exact version, like 1.120.2."
  }
}

variable "psycopg2_version" {
  type        = string
  default     = "2.9.10"
  description = "psycopg2-binary version (Synapse's PostgreSQL driver; a wheel, so nothing is compiled on the board)."
}

variable "extra_packages" {
  type        = list(string)
  default     = ["prometheus-client==0.21.1", "txredisapi==1.4.11", "requests==2.32.3"]
  description = "More pins installed with Synapse: dependencies whose newest release breaks the pinned Synapse (prometheus-client 0.22 breaks Synapse before 1.129; txredisapi 1.5 and later break the Redis replication of Synapse 1.120's workers), requests for the admin tool register_new_matrix_user (not a Synapse dependency), or a whole lock file's list. The index must hold them."
}

variable "port" {
  type        = number
  default     = 8008
  description = "TCP port of Synapse's HTTP listener (client and federation APIs, plain HTTP behind the proxy)."
  validation {
    condition     = var.port > 0 && var.port < 65536
    error_message = "port is a TCP port (1-65535)."
  }
}

variable "bind_addresses" {
  type        = list(string)
  default     = null
  description = "Addresses Synapse listens on. Unset: the board's inventory address (its primary IPv4 when that is a name) and 127.0.0.1, so the front proxy reaches it and admin tools on the board do too."
}

variable "postgres_share" {
  type        = number
  default     = 0.2
  description = "Fraction of the board's RAM for PostgreSQL (its MemoryMax and the base of its settings, see the postgres role)."
  validation {
    condition     = var.postgres_share >= 0.05 && var.postgres_share <= 0.5
    error_message = "postgres_share is from 0.05 to 0.5."
  }
}

variable "synapse_share" {
  type        = number
  default     = 0.45
  description = "Fraction of the board's RAM for Synapse: its unit's MemoryMax (MemoryHigh at 90% of it) and the base of the cache factor. postgres_share + synapse_share may be at most 0.8: the rest is the OS's."
  validation {
    condition     = var.synapse_share >= 0.1 && var.synapse_share <= 0.7
    error_message = "synapse_share is from 0.1 to 0.7."
  }
}

variable "cache_factor" {
  type        = number
  default     = null
  description = "Synapse's caches.global_factor. Unset: Synapse's MemoryMax in MiB / 4096, rounded down to 0.05, from 0.1 to 2."
  validation {
    condition     = var.cache_factor == null || (coalesce(var.cache_factor, 1) > 0 && coalesce(var.cache_factor, 1) <= 10)
    error_message = "cache_factor is above 0, at most 10."
  }
}

variable "memory_mb" {
  type        = number
  default     = null
  description = "The RAM the memory model divides, in MiB. Unset: the board's (`fact.memory_mb`). Set it lower when the board runs more than this role."
  validation {
    condition     = var.memory_mb == null || coalesce(var.memory_mb, 512) >= 512
    error_message = "memory_mb is at least 512 (MiB)."
  }
}

variable "extra_config" {
  type        = string
  default     = ""
  description = "YAML appended to homeserver.yaml as it is (more settings; a key given twice is an error in Synapse)."
}

locals {
  # Whether a secret is set is no secret: without nonsensitive() the whole
  # homeserver.yaml would be hidden in plans.
  registration = nonsensitive(var.registration_shared_secret != null)
  # The memory model (docs/roles/homeserver.md), in MiB.
  # (A variable's validation sees only that variable: the sum is checked here.)
  shares_ok       = tonumber(var.postgres_share + var.synapse_share <= 0.8 ? "0" : "postgres_share + synapse_share is more than 0.8: the OS needs the rest")
  memory_mb       = var.memory_mb != null ? var.memory_mb : fact.memory_mb
  synapse_max_mb  = floor(local.memory_mb * var.synapse_share) + local.shares_ok
  synapse_high_mb = floor(local.main_max_mb * 0.9)
  postgres_max_mb = floor(local.memory_mb * var.postgres_share)
  auto_cache      = max(0.1, min(2, floor(local.main_max_mb / 4096 * 20) / 20))
  cache_factor    = var.cache_factor != null ? var.cache_factor : local.auto_cache
  public_baseurl  = var.public_baseurl != null ? var.public_baseurl : "https://${var.server_name}/"
  host_ip         = can(cidrhost("${host.address}/32", 0)) ? host.address : fact.primary_ipv4
  bind_addresses  = var.bind_addresses != null ? var.bind_addresses : distinct([local.host_ip, "127.0.0.1"])
  # With workers, nginx takes the public port and the main process
  # listens on loopback behind it.
  main_port = var.workers ? var.worker_port : var.port
  main_bind = var.workers ? ["127.0.0.1"] : local.bind_addresses
  venv            = "/opt/synapse/venv"
  config          = "/etc/synapse/homeserver.yaml"
  unit            = "synapse.service"
}

# PostgreSQL on the same board; Synapse logs in over the Unix socket as the
# system user synapse (peer authentication: no database password exists).
# The database must be C-collated UTF-8, as Synapse requires.
role "db" {
  source = "postgres"
  inputs = {
    memory_share = var.postgres_share
    memory_mb    = local.memory_mb
    # Each Synapse process holds up to 10 connections (cp_max); with
    # workers, room for up to 4 generic ones, so that adding one does not
    # restart PostgreSQL.
    max_connections = var.workers ? 10 * (2 + max(4, local.generic_count)) + 10 : 50
    roles        = { synapse = { login = true } }
    databases = {
      synapse = { owner = "synapse", encoding = "UTF8", lc_collate = "C", lc_ctype = "C", template = "template0" }
    }
  }
}

# With workers (workers.hcl): Redis for replication, on loopback only, so
# that nothing but this board's Synapse processes reach it. Pub/sub and a
# small cache of joined hosts take a few MiB; the 64 MiB cap comes out of
# the OS's share. Declared before Synapse so that it starts first: a role
# left out by `when` cannot be named in depends_on.
role "redis" {
  source = "broker"
  when   = local.local_redis
  inputs = {
    password     = var.redis_password
    port         = var.redis_port
    bind         = ["127.0.0.1"]
    maxmemory_mb = 64
  }
}

package "venv" {
  name = "python3-venv"
}

group "synapse" {
  name   = "synapse"
  system = true
}

user "synapse" {
  name       = "synapse"
  system     = true
  group      = "synapse"
  home       = "/var/lib/synapse"
  shell      = "/usr/sbin/nologin"
  comment    = "Matrix homeserver (pinery role homeserver)"
  depends_on = [group.synapse]
}

directory "opt" {
  path = "/opt/synapse"
  mode = "0755"
}

directory "etc" {
  path       = "/etc/synapse"
  mode       = "0750"
  group      = "synapse"
  depends_on = [group.synapse]
}

directory "data" {
  for_each   = toset(["", "/media_store"])
  path       = "/var/lib/synapse${each.key}"
  mode       = "0750"
  owner      = "synapse"
  group      = "synapse"
  depends_on = [user.synapse]
}

# The code, owned by root: Synapse cannot rewrite what it runs.
python_venv "synapse" {
  path       = local.venv
  packages   = concat(["matrix-synapse[redis]==${var.synapse_version}", "psycopg2-binary==${var.psycopg2_version}"], var.extra_packages)
  index_url  = var.index_url
  depends_on = [package.venv, directory.opt]
}

file "signing_key" {
  path       = "/etc/synapse/signing.key"
  content    = trimsuffix(var.signing_key, "\n")
  owner      = "synapse"
  group      = "synapse"
  mode       = "0600"
  depends_on = [directory.etc, user.synapse]
}

file "config" {
  path = local.config
  content = templatefile("templates/homeserver.yaml.tmpl", {
    server_name              = var.server_name
    public_baseurl           = local.public_baseurl
    port                     = local.main_port
    bind_addresses           = local.main_bind
    cache_factor             = local.cache_factor
    enable_registration      = var.enable_registration
    registration_secret_path = local.registration ? "/etc/synapse/registration_secret" : null
    extra_config             = var.extra_config
    workers = var.workers ? {
      replication_port    = var.worker_port + 1
      redis_host          = coalesce(var.redis_host, "127.0.0.1")
      redis_port          = var.redis_port
      redis_password_path = local.redis_auth ? "/etc/synapse/redis_password" : null
    } : null
  })
  owner      = "root"
  group      = "synapse"
  mode       = "0640"
  depends_on = [directory.etc]
}

# The secret is a file of its own, so that homeserver.yaml holds no secret
# and its changes show in plans.
file "registration_secret" {
  count      = local.registration ? 1 : 0
  path       = "/etc/synapse/registration_secret"
  content    = var.registration_shared_secret
  owner      = "root"
  group      = "synapse"
  mode       = "0640"
  depends_on = [directory.etc]
}

systemd_unit "synapse" {
  name = local.unit
  content = templatefile("templates/synapse.service.tmpl", {
    venv           = local.venv
    config         = local.config
    memory_max_mb  = local.main_max_mb
    memory_high_mb = local.synapse_high_mb
    postgres_unit  = "postgresql.service"
  })
}

# Restarted by what Synapse reads at start only: its code, configuration,
# key and unit. PostgreSQL's own changes restart PostgreSQL alone.
service "synapse" {
  name       = local.unit
  enabled    = true
  watch      = [python_venv.synapse, file.config, file.signing_key, file.registration_secret, file.redis_password, systemd_unit.synapse]
  depends_on = [role.db, directory.data]
}

# Synapse runs its database migrations before it answers: the first start
# of a new version can take minutes on a small board.
wait_for "synapse" {
  url        = "http://127.0.0.1:${local.main_port}/health"
  timeout    = 600
  interval   = 1
  watch      = [service.synapse]
  depends_on = [service.synapse]
}

output "port" {
  description = "Synapse's HTTP port, for the front proxy's upstream."
  value       = var.port
}

output "memory" {
  description = "The memory model for this board, in MiB: Synapse's share (the main process's MemoryMax, or with workers what all its processes' MemoryMax add up to at most), the main process's MemoryHigh, PostgreSQL's MemoryMax, what is left to the OS, the main process's cache factor, and each Synapse process's MemoryMax, MemoryHigh and cache factor."
  value = {
    synapse_max_mb  = local.synapse_max_mb
    synapse_high_mb = local.synapse_high_mb
    postgres_max_mb = local.postgres_max_mb
    os_mb           = local.memory_mb - local.synapse_max_mb - local.postgres_max_mb
    cache_factor    = local.cache_factor
    processes = merge(
      { main = { memory_max_mb = local.main_max_mb, memory_high_mb = local.synapse_high_mb, cache_factor = local.cache_factor } },
      { for k, w in local.workers : k => { memory_max_mb = w.max_mb, memory_high_mb = w.high_mb, cache_factor = w.cache } },
    )
  }
}

output "register_command" {
  description = "The command, run on the board, that creates a user with the registration secret (add -u NAME -p PASSWORD [-a])."
  value       = "${local.venv}/bin/register_new_matrix_user -c ${local.config} http://127.0.0.1:${var.port}"
}

output "memory_budget_mb" {
  description = "What the role may take on this board, in MiB: Synapse's and PostgreSQL's MemoryMax. A site sums its roles' budgets in a check (docs/language.md#checks)."
  value       = local.synapse_max_mb + local.postgres_max_mb
}

check "memory" {
  assert {
    condition     = local.memory_mb <= fact.memory_mb
    error_message = "memory_mb is ${local.memory_mb} MiB, more than this board's ${fact.memory_mb} MiB: Synapse and PostgreSQL would be sized for RAM the board does not have."
  }
}
