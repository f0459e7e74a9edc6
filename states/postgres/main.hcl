# postgres: Debian's PostgreSQL with its memory sized from the board's RAM,
# for a homeserver or any service that needs a database on a small board.
# The settings that only a start reads restart the cluster when they
# change; the others reload it. systemd caps the cluster's memory
# (MemoryMax) at the share it was given, so that PostgreSQL, Synapse and
# its workers together stay inside the board. Roles and databases come as
# maps, so that a role including this one declares what it needs.

variable "version" {
  type        = string
  default     = "15"
  description = "PostgreSQL's major version, as Debian packages it: 15 on Debian 12. Paths and the unit follow it."
  validation {
    condition     = can(regex("^[0-9]+$", var.version))
    error_message = "version is a major version number, like 15."
  }
}

variable "memory_share" {
  type        = number
  default     = 0.25
  description = "Fraction of the board's RAM (fact.memory_mb) PostgreSQL may use: its MemoryMax, and the base of every memory setting."
  validation {
    condition     = var.memory_share >= 0.05 && var.memory_share <= 0.9
    error_message = "memory_share is a fraction of the board's RAM, from 0.05 to 0.9."
  }
}

variable "memory_mb" {
  type        = number
  default     = null
  description = "The RAM memory_share is a fraction of, in MiB. Unset: the board's (fact.memory_mb)."
}

variable "max_connections" {
  type        = number
  default     = 50
  description = "Most client connections at once. Synapse needs (workers + 1) × cp_max (10 by default), plus a few for maintenance."
  validation {
    condition     = var.max_connections >= 5 && var.max_connections <= 1000 && floor(var.max_connections) == var.max_connections
    error_message = "max_connections is a whole number from 5 to 1000."
  }
}

variable "listen_addresses" {
  type        = string
  default     = "localhost"
  description = "PostgreSQL's listen_addresses: `localhost`, `*`, or IP addresses separated by commas. Clients on other hosts also need allowed_clients."
  validation {
    condition     = can(regex("^[A-Za-z0-9.:*, -]+$", var.listen_addresses))
    error_message = "listen_addresses is localhost, * or a comma-separated list of addresses."
  }
}

variable "allowed_clients" {
  type        = list(string)
  default     = []
  description = "Networks (CIDR, like 10.0.0.0/24 or 10.0.0.5/32) whose clients may log in to any database with a password (pg_hba.conf, scram-sha-256)."
  validation {
    condition     = length([for c in var.allowed_clients : c if !(can(cidrhost(c, 0)) && can(regex("/[0-9]+$", c)))]) == 0
    error_message = "allowed_clients lists networks in CIDR notation, like 10.0.0.0/24."
  }
}

variable "roles" {
  type = map(object({
    password         = optional(string)
    login            = optional(bool)
    superuser        = optional(bool)
    createdb         = optional(bool)
    createrole       = optional(bool)
    connection_limit = optional(number)
    state            = optional(string)
  }))
  default     = {}
  description = "Roles by name, each with the fields of a postgres_role (all optional)."
}

variable "databases" {
  type = map(object({
    owner      = optional(string)
    encoding   = optional(string)
    lc_collate = optional(string)
    lc_ctype   = optional(string)
    template   = optional(string)
    state      = optional(string)
    force_drop = optional(bool)
  }))
  default     = {}
  description = "Databases by name, each with the fields of a postgres_database (all optional); created after the roles."
}

locals {
  conf_dir = "/etc/postgresql/${var.version}/main"
  unit     = "postgresql@${var.version}-main"
  # The memory budget and what it is split into, in MiB (docs/roles/postgres.md).
  memory_max_mb           = floor((var.memory_mb != null ? var.memory_mb : fact.memory_mb) * var.memory_share)
  shared_buffers_mb       = floor(local.memory_max_mb / 4)
  effective_cache_size_mb = floor(local.memory_max_mb * 3 / 4)
  work_mem_mb             = min(64, max(1, floor(local.memory_max_mb / (var.max_connections * 3))))
  maintenance_work_mem_mb = min(256, floor(local.memory_max_mb / 8))
}

package "postgresql" {
  name = "postgresql-${var.version}"
}

# Read only when PostgreSQL starts: a change restarts the cluster.
file "restart_settings" {
  path = "${local.conf_dir}/conf.d/pinery-restart.conf"
  content = templatefile("templates/pinery-restart.conf.tmpl", {
    listen_addresses  = var.listen_addresses
    max_connections   = var.max_connections
    shared_buffers_mb = local.shared_buffers_mb
  })
  owner      = "postgres"
  group      = "postgres"
  mode       = "0644"
  depends_on = [package.postgresql]
}

# Applied by a reload.
file "settings" {
  path = "${local.conf_dir}/conf.d/pinery.conf"
  content = templatefile("templates/pinery.conf.tmpl", {
    effective_cache_size_mb = local.effective_cache_size_mb
    work_mem_mb             = local.work_mem_mb
    maintenance_work_mem_mb = local.maintenance_work_mem_mb
  })
  owner      = "postgres"
  group      = "postgres"
  mode       = "0644"
  depends_on = [package.postgresql]
}

file "hba" {
  path = "${local.conf_dir}/pg_hba.conf"
  content = templatefile("templates/pg_hba.conf.tmpl", {
    allowed_clients = var.allowed_clients
  })
  owner      = "postgres"
  group      = "postgres"
  mode       = "0640"
  depends_on = [package.postgresql]
}

# The kernel enforces the budget: past it, the cluster's own processes are
# reclaimed from, then a backend is killed, not Synapse.
systemd_unit "memory" {
  name       = "${local.unit}.service"
  dropin     = "50-pinery-memory"
  content    = "# Managed by pinery (role postgres).\n[Service]\nMemoryMax=${local.memory_max_mb}M\n"
  depends_on = [package.postgresql]
}

# postgresql.service starts the clusters at boot.
service "postgresql" {
  name       = "postgresql"
  enabled    = true
  depends_on = [package.postgresql]
}

service "reload" {
  name       = local.unit
  reload     = true
  watch      = [file.settings, file.hba]
  depends_on = [service.postgresql]
}

# A new MemoryMax is applied by a restart too: it only changes with the
# board's RAM or memory_share, and then shared_buffers changes as well.
service "restart" {
  name       = local.unit
  watch      = [file.restart_settings, systemd_unit.memory]
  depends_on = [service.reload]
}

# A restart returns once PostgreSQL accepts connections, unless its
# recovery outlasts pg_ctl's wait; then the roles wait here.
wait_for "ready" {
  command    = "pg_isready -q -h /var/run/postgresql -p 5432"
  timeout    = 300
  depends_on = [service.restart]
  watch      = [service.restart]
}

# Role and database names are not secret, but a password anywhere in the
# map makes the whole map sensitive when it crosses into the role: the keys
# are declared safe to show, the values stay sensitive.
postgres_role "role" {
  for_each         = { for k in nonsensitive(keys(var.roles)) : k => var.roles[k] }
  name             = each.key
  password         = each.value.password
  login            = each.value.login
  superuser        = each.value.superuser
  createdb         = each.value.createdb
  createrole       = each.value.createrole
  connection_limit = each.value.connection_limit
  state            = each.value.state
  depends_on       = [wait_for.ready]
}

postgres_database "database" {
  for_each   = { for k in nonsensitive(keys(var.databases)) : k => var.databases[k] }
  name       = each.key
  owner      = each.value.owner
  encoding   = each.value.encoding
  lc_collate = each.value.lc_collate
  lc_ctype   = each.value.lc_ctype
  template   = each.value.template
  state      = each.value.state
  force_drop = each.value.force_drop
  depends_on = [wait_for.ready, postgres_role.role]
}

output "port" {
  description = "The TCP port."
  value       = 5432
}

output "socket_dir" {
  description = "The directory of the Unix socket, for clients on the board (host=/var/run/postgresql)."
  value       = "/var/run/postgresql"
}

output "settings" {
  description = "The memory settings computed for this board, in MiB, and max_connections."
  value = {
    memory_max_mb           = local.memory_max_mb
    shared_buffers_mb       = local.shared_buffers_mb
    effective_cache_size_mb = local.effective_cache_size_mb
    work_mem_mb             = local.work_mem_mb
    maintenance_work_mem_mb = local.maintenance_work_mem_mb
    max_connections         = var.max_connections
  }
}

output "memory_budget_mb" {
  description = "What PostgreSQL may take on this board, in MiB (its MemoryMax)."
  value       = local.memory_max_mb
}

check "memory" {
  assert {
    condition     = var.memory_mb == null || coalesce(var.memory_mb, 0) <= fact.memory_mb
    error_message = "memory_mb is ${coalesce(var.memory_mb, 0)} MiB, more than this board's ${fact.memory_mb} MiB: PostgreSQL would be sized for RAM the board does not have."
  }
}
