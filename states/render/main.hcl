# render: stateless e-mail rendering workers. A Celery worker (Debian's
# python3-celery) takes jobs from a queue on a broker (Redis, or
# RabbitMQ), renders a message from a template of the role and the job's
# data, and delivers it to a spool directory that the mail side picks up,
# or returns it as the job's result. One systemd unit per board, with a
# pool sized from the board's cores and memory; jobs are acknowledged
# late, so a worker that stops mid-job loses nothing; a worker about to be
# restarted is drained first (prereq), and answers a ping before the
# rollout goes on (the health check). A small site runs the broker role
# on one of the render boards. See docs/roles/render.md.

variable "broker" {
  type = object({
    url            = optional(string)
    host           = optional(string)
    password       = optional(string)
    memory_percent = optional(number, 10)
  })
  sensitive   = true
  description = "The job queue. Either `{ url = \"redis://:PASSWORD@HOST:6379/0\" }`, a broker of the site (the broker role's `url`) or `amqp://USER:PASSWORD@HOST:5672/VHOST` for RabbitMQ; or, for a small site, `{ host = \"sopine01\", password = \"...\" }`: the role includes the broker role (Redis) on that render board, with `memory_percent` of its RAM, and every worker uses it."
  validation {
    condition     = (var.broker.url != null) != (var.broker.host != null || var.broker.password != null)
    error_message = "broker is either { url = ... } or { host = ..., password = ... }, not both."
  }
  validation {
    condition     = var.broker.url == null || can(regex("^(redis|rediss|amqp|amqps|pyamqp)://[^\\s]+$", coalesce(var.broker.url, "x")))
    error_message = "broker.url is a redis://, rediss://, amqp:// or amqps:// URL without spaces."
  }
  validation {
    condition     = var.broker.url != null || (var.broker.host != null && var.broker.password != null)
    error_message = "A broker on a render board needs both host (the board's inventory name) and password."
  }
  validation {
    condition     = var.broker.memory_percent >= 1 && var.broker.memory_percent <= 80
    error_message = "broker.memory_percent is between 1 and 80."
  }
}

variable "result_backend" {
  type        = string
  default     = null
  sensitive   = true
  description = "Where job results go. Unset: the broker itself for Redis, `rpc://` (replies over the broker) for RabbitMQ."
}

variable "queue" {
  type        = string
  default     = "render"
  description = "The queue the workers take jobs from."
  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*$", var.queue))
    error_message = "queue is letters, digits, dot, underscore and dash."
  }
}

variable "templates" {
  type        = map(string)
  description = "Message templates by name: header lines, a blank line, the body; `$name` (or `$${name}`) is replaced by the job's data, `$$` is a dollar. A `Content-Type: text/html` header makes an HTML message."
  validation {
    condition     = length(var.templates) > 0
    error_message = "templates needs at least one template."
  }
  validation {
    condition     = length([for k, t in var.templates : k if !can(regex("^[a-z0-9][a-z0-9_.-]*$", k))]) == 0
    error_message = "Template names are lowercase letters, digits, dot, underscore and dash."
  }
  validation {
    condition     = length([for k, t in var.templates : k if !can(regex("^[A-Za-z][A-Za-z0-9-]*:", t))]) == 0
    error_message = "A template starts with a header line (Subject: ...)."
  }
  validation {
    condition     = length([for k, t in var.templates : k if !can(regex("\n\r?\n", t))]) == 0
    error_message = "A template needs a blank line before its body."
  }
}

variable "message_id_domain" {
  type        = string
  description = "The domain of the messages' Message-ID (<JOB-ID@DOMAIN>): the same on every board, so that a job rendered twice gives the same message."
  validation {
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", var.message_id_domain))
    error_message = "message_id_domain is a domain name like example.org."
  }
}

variable "version" {
  type        = string
  default     = "1"
  description = "The release of the templates and settings, stamped on every message (X-Render-Version) and returned in each result. Changing it restarts the workers: the way to roll out a new worker version."
}

variable "deliver" {
  type        = string
  default     = "spool"
  description = "`spool`: write each message to the spool directory (new/JOB-ID.eml) and return its metadata; `result`: return the message in the job's result and write nothing."
  validation {
    condition     = contains(["spool", "result"], var.deliver)
    error_message = "deliver is spool or result."
  }
}

variable "name" {
  type        = string
  default     = "render"
  description = "Name of the worker: its user, unit (NAME-worker.service), node (NAME@HOST) and directories (/etc/NAME, /var/spool/NAME, /usr/local/lib/NAME). Include the role twice with two names for two queues."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.name))
    error_message = "name is lowercase letters, digits and dashes, starting with a letter, at most 24 characters."
  }
}

variable "concurrency" {
  type        = number
  default     = null
  description = "Pool processes per board. Unset: computed from the board's cores and memory (see the memory model)."
  validation {
    condition     = coalesce(var.concurrency, 1) >= 1 && floor(coalesce(var.concurrency, 1)) == coalesce(var.concurrency, 1)
    error_message = "concurrency is a whole number, at least 1."
  }
}

variable "reserve_mb" {
  type        = number
  default     = 512
  description = "Memory left to the rest of the board (the system, page cache, other services), in MiB. The broker's share is added on the board that runs it."
  validation {
    condition     = var.reserve_mb >= 0
    error_message = "reserve_mb is a number of MiB, 0 or more."
  }
}

variable "process_mb" {
  type        = number
  default     = 128
  description = "Memory budget of one pool process, in MiB: a process that grows past it is replaced after its job."
  validation {
    condition     = var.process_mb >= 48
    error_message = "process_mb is at least 48 (MiB): a Python process running Celery needs about 40."
  }
}

variable "stop_timeout" {
  type        = number
  default     = 120
  description = "Seconds a worker may take to finish its jobs when stopped or drained before it is killed (its jobs then go back to the queue)."
  validation {
    condition     = var.stop_timeout >= 10
    error_message = "stop_timeout is at least 10 seconds."
  }
}

variable "visibility_timeout" {
  type        = number
  default     = 300
  description = "Redis only: seconds after which a job taken by a worker that vanished (a board that lost power) is queued again. Longer than any render, or a slow job runs twice."
  validation {
    condition     = var.visibility_timeout >= 30
    error_message = "visibility_timeout is at least 30 seconds."
  }
}

variable "result_expires" {
  type        = number
  default     = 86400
  description = "Seconds job results are kept in the result backend."
  validation {
    condition     = var.result_expires >= 60
    error_message = "result_expires is at least 60 seconds."
  }
}

variable "log_level" {
  type        = string
  default     = "WARNING"
  description = "Celery's log level in the journal. INFO logs two lines per job, a lot for an SD card during a mailshot."
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level is DEBUG, INFO, WARNING or ERROR."
  }
}

variable "health_timeout" {
  type        = number
  default     = 120
  description = "Seconds a restarted worker has to answer a ping before its host fails (and a rollout halts)."
  validation {
    condition     = var.health_timeout >= 5
    error_message = "health_timeout is at least 5 seconds."
  }
}

locals {
  # The broker on a render board (a small site): this board runs it when
  # it is the one named; Redis gets its share of the RAM, the pool the rest.
  # (broker is sensitive for its password; where it runs and its memory
  # share are not secrets, and sizing messages may show them.)
  own_broker    = nonsensitive(var.broker.host != null)
  broker_here   = nonsensitive(local.own_broker && var.broker.host == host.name)
  broker_memory = nonsensitive(max(32, floor(fact.memory_mb * var.broker.memory_percent / 100)))
  broker_url    = local.own_broker ? "redis://:${var.broker.password}@${inventory.hosts[var.broker.host].address}:6379/0" : var.broker.url
  redis         = can(regex("^rediss?://", local.broker_url))

  # Pool size: one process per core, as many as the memory left after
  # reserve_mb (and the broker's share, on its board) allows at
  # process_mb each, at least one.
  reserve     = var.reserve_mb + (local.broker_here ? local.broker_memory : 0)
  by_memory   = floor((fact.memory_mb - local.reserve) / var.process_mb)
  concurrency = var.concurrency != null ? var.concurrency : max(1, min(fact.cpu_count, local.by_memory))
  # The unit's hard memory cap: the pool and the main process.
  memory_max = (local.concurrency + 1) * var.process_mb

  node  = "${var.name}@${host.name}"
  unit  = "${var.name}-worker.service"
  code  = "/usr/local/lib/${var.name}"
  etc   = "/etc/${var.name}"
  spool = "/var/spool/${var.name}"
  ctl   = "RENDER_ETC=${local.etc} /usr/bin/python3 ${local.code}/render_worker.py"
}

# A small site: the broker runs on one of the render boards.
role "broker" {
  source = "broker"
  when   = local.broker_here
  inputs = {
    password     = var.broker.password
    maxmemory_mb = local.broker_memory
  }
}

package "celery" {
  name = "python3-celery"
}

package "redis" {
  count = local.redis ? 1 : 0
  name  = "python3-redis"
}

group "worker" {
  name   = var.name
  system = true
}

user "worker" {
  name       = var.name
  system     = true
  group      = var.name
  home       = local.spool
  shell      = "/usr/sbin/nologin"
  comment    = "pinery render worker"
  depends_on = [group.worker]
}

directory "code" {
  path = local.code
  mode = "0755"
}

directory "etc" {
  path       = local.etc
  mode       = "0750"
  group      = var.name
  depends_on = [group.worker]
}

# The spool is the worker's; the mail side joins the group to pick up and
# remove messages from new/.
directory "spool" {
  for_each   = toset(["", "/tmp", "/new"])
  path       = "${local.spool}${each.key}"
  mode       = "2770"
  owner      = var.name
  group      = var.name
  depends_on = [user.worker]
}

# Before a restart: stop the worker taking jobs and wait for the ones it
# holds. Declared before the files so that it runs with the code and
# settings (the broker) the running worker has. A stopped worker has
# nothing to drain.
exec "drain" {
  command = "${local.ctl} drain ${local.node} --timeout ${var.stop_timeout}"
  onlyif  = "systemctl is-active -q ${local.unit}"
  timeout = var.stop_timeout + 30
  prereq  = [service.worker]
}

file "code" {
  path   = "${directory.code.path}/render_worker.py"
  source = "templates/render_worker.py"
  mode   = "0644"
}

# The worker's settings, shown in plans; the broker's URL, which holds its
# password, apart; each template in a file of its own, so that a plan
# shows a template's change as a diff.
file "settings" {
  path = "${local.etc}/worker.json"
  content = jsonencode({
    queue              = var.queue
    templates          = sort(keys(var.templates))
    message_id_domain  = var.message_id_domain
    version            = var.version
    deliver            = var.deliver
    spool              = local.spool
    visibility_timeout = var.visibility_timeout
    result_expires     = var.result_expires
  })
  mode       = "0640"
  group      = var.name
  depends_on = [directory.etc]
}

file "broker" {
  path = "${local.etc}/broker.json"
  content = jsonencode({
    broker_url     = local.broker_url
    result_backend = var.result_backend != null ? var.result_backend : (local.redis ? local.broker_url : "rpc://")
  })
  mode       = "0640"
  group      = var.name
  depends_on = [directory.etc]
}

directory "templates" {
  path       = "${local.etc}/templates"
  mode       = "0750"
  group      = var.name
  depends_on = [directory.etc]
}

file "template" {
  for_each = var.templates
  path     = "${directory.templates.path}/${each.key}.eml"
  content  = each.value
  mode     = "0640"
  group    = var.name
}

systemd_unit "worker" {
  name = local.unit
  content = templatefile("templates/worker.service.tmpl", {
    name         = var.name
    node         = local.node
    queue        = var.queue
    code         = local.code
    etc          = local.etc
    spool        = local.spool
    concurrency  = local.concurrency
    child_kib    = var.process_mb * 1024
    memory_max   = local.memory_max
    log_level    = var.log_level
    stop_timeout = var.stop_timeout
  })
}

service "worker" {
  name       = local.unit
  enabled    = true
  watch      = [file.code, file.settings, file.broker, file.template, systemd_unit.worker]
  depends_on = [package.celery, package.redis, directory.spool]
}

# The health check: after every (re)start, the worker's templates must
# load and the worker must answer a ping over the broker within
# health_timeout, or its host fails, which halts a rollout before the
# next batch.
exec "health" {
  command      = "${local.ctl} ping ${local.node} --timeout ${var.health_timeout}"
  timeout      = var.health_timeout + 30
  refresh_only = true
  watch        = [service.worker]
}

output "node" {
  description = "The worker's Celery node name (NAME@HOST), for `celery inspect -d`."
  value       = local.node
}

output "unit" {
  description = "The worker's systemd unit."
  value       = local.unit
}

output "concurrency" {
  description = "Pool processes of the worker on this board."
  value       = local.concurrency
}

output "spool" {
  description = "The spool directory: messages appear in its new/ folder."
  value       = local.spool
}

output "health_command" {
  description = "The health check as a shell command: exits 0 once the worker answers a ping (waiting up to health_timeout), 1 at once when its templates do not load. For a site's own wait_for or monitoring."
  value       = "${local.ctl} ping ${local.node} --timeout ${var.health_timeout}"
}

output "memory_budget_mb" {
  description = "What the role may take on this board, in MiB: the worker unit's MemoryMax, and the broker's maxmemory when the broker runs here. A site sums its roles' budgets in a check (docs/language.md#checks)."
  value       = local.memory_max + (local.broker_here ? local.broker_memory : 0)
}

# A concurrency set by hand can ask for more than the board has.
check "memory" {
  assert {
    condition     = local.memory_max + local.reserve <= fact.memory_mb
    error_message = "${local.concurrency} pool processes of ${var.process_mb} MiB (MemoryMax ${local.memory_max} MiB) and ${local.reserve} MiB kept for the rest need more than this board's ${fact.memory_mb} MiB: lower concurrency or process_mb, or use a bigger board."
  }
}
