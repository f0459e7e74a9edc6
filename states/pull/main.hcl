# pull: a board that converges by itself (pull mode, docs/pull.md). The
# role installs pinery from the site's signed apt repository (the .deb
# that `make deb` builds, published with `pinery repo publish`), writes
# the pull configuration (the bundle's URL, the key its signatures must
# verify with, the backend that runs are reported to) and a systemd timer
# that runs `pinery pull` on a schedule, each board at a random moment in
# a window so that a rack does not hit the web server and the database at
# once. A run logs to the journal and a failed one leaves the service
# failed (`systemctl --failed`). See docs/roles/pull.md.

variable "repo_url" {
  type        = string
  description = "The apt repository that serves the pinery package, like `http://repo.example.org/` (the aptrepo role's `url`)."
  validation {
    condition     = can(regex("^https?://[^\\s/@]+(/[^\\s\"'\\\\]*)?$", var.repo_url))
    error_message = "repo_url is an http:// or https:// URL without credentials or spaces."
  }
}

variable "repo_key" {
  type        = string
  description = "The repository's OpenPGP public key, ASCII-armoured (`file(\"keys/repo.pub\")`, the `pubkey.asc` that `pinery repo publish` writes)."
  validation {
    condition     = can(regex("-----BEGIN PGP PUBLIC KEY BLOCK-----", var.repo_key))
    error_message = "repo_key is an ASCII-armoured OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)."
  }
}

variable "suite" {
  type        = string
  default     = "stable"
  description = "The repository's suite that holds pinery."
}

variable "component" {
  type        = string
  default     = "main"
  description = "The suite's component that holds pinery."
}

variable "repo_direct" {
  type        = bool
  default     = false
  description = "Reach the repository's host without the board's apt proxy (`Acquire::http::Proxy::HOST \"DIRECT\"` in /etc/apt/apt.conf.d/50pinery-pull-direct): for boards whose apt goes through a caching proxy that cannot reach the site's own repository."
}

variable "version" {
  type        = string
  default     = null
  description = "Pin pinery to this package version (as `dpkg -s pinery` prints it). Unset: the newest the repository has, upgraded at each apply of the role."
}

variable "bundle_url" {
  type        = string
  description = "Where the board fetches its bundle: an http://, https:// or file:// URL; its signature is the same URL with `.sig`. Not a secret: it is in the unit file, which every user can read."
  validation {
    condition     = can(regex("^(https?|file)://[^\\s\"'\\\\$]+$", var.bundle_url))
    error_message = "bundle_url is an http://, https:// or file:// URL without spaces, quotes, backslashes or dollar signs."
  }
}

variable "trusted_key" {
  type        = string
  description = "The public key(s) whose bundle signatures the board accepts: the `.pub` of `pinery bundle --signing-key` (ssh-ed25519, one per line; two during a key rotation). Written to /etc/pinery/bundle.pub."
  validation {
    condition     = can(regex("(?m)^ssh-ed25519 ", var.trusted_key)) && length([for l in split("\n", trimspace(var.trusted_key)) : l if !can(regex("^(ssh-ed25519 [A-Za-z0-9+/]+=*( .*)?|#.*|\\s*)$", l))]) == 0
    error_message = "trusted_key holds ssh-ed25519 public keys, one per line, like the .pub file ssh-keygen -t ed25519 writes."
  }
}

variable "backend" {
  type        = string
  default     = null
  sensitive   = true
  description = "The shared backend that each run is reported to, a `postgres://USER:PASSWORD@HOST/DB` URL (the board's own database role): written to /etc/pinery/pull.env (root only) as PINERY_BACKEND, never to the unit or the command line. Unset: runs are recorded in a SQLite file in state_dir, and `pinery status` does not see them."
  validation {
    condition     = var.backend == null || can(regex("^postgres(ql)?://[^\\s'\\\\]+$", coalesce(var.backend, "x")))
    error_message = "backend is a postgres:// URL without spaces, quotes or backslashes (percent-encode them)."
  }
}

variable "host" {
  type        = string
  default     = null
  description = "The bundle's inventory host that this board applies (`pinery pull --host`). Unset: this host's inventory name."
  validation {
    condition     = var.host == null || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*$", coalesce(var.host, "x")))
    error_message = "host is an inventory host name."
  }
}

variable "state_dir" {
  type        = string
  default     = "/var/lib/pinery/pull"
  description = "pinery pull's state directory: the last applied bundle (replay protection) and, without a backend, the run history."
  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]+$", var.state_dir))
    error_message = "state_dir is an absolute path of letters, digits, '.', '_', '-' and '/'."
  }
}

variable "interval" {
  type        = string
  default     = "*:0/30"
  description = "When the pull runs: a systemd calendar expression (`OnCalendar=`, systemd.time(7)), like `*:0/30` (every half hour), `hourly` or `*-*-* 03:00`. A run missed while the board was off runs at its next boot (`Persistent=true`)."
  validation {
    condition     = can(regex("^[A-Za-z0-9*:/,.~ -]+$", var.interval))
    error_message = "interval is a systemd calendar expression like *:0/30, hourly or *-*-* 03:00."
  }
}

variable "randomized_delay" {
  type        = string
  default     = "10min"
  description = "Each run starts after a random delay of up to this long (`RandomizedDelaySec=`, a systemd time span like `90s`, `10min`, `1h`): boards spread their fetches and reports over the window instead of arriving together."
  validation {
    condition     = can(regex("^([0-9]+ ?(us|ms|s|sec|m|min|h|hr|d|w)? ?)+$", var.randomized_delay))
    error_message = "randomized_delay is a systemd time span like 90s, 10min or 1h."
  }
}

variable "timeout" {
  type        = string
  default     = "1h"
  description = "A run that takes longer is stopped and fails (`TimeoutStartSec=`, a systemd time span)."
  validation {
    condition     = can(regex("^([0-9]+ ?(us|ms|s|sec|m|min|h|hr|d|w)? ?)+$", var.timeout))
    error_message = "timeout is a systemd time span like 30min or 1h."
  }
}

locals {
  repo_host = regex("^https?://([^/:]+)", var.repo_url)[0]
  # systemd expands % specifiers in ExecStart=: written %%, a
  # percent-encoded URL reaches pinery as it is.
  bundle_arg = replace(var.bundle_url, "%", "%%")
  pull_host  = var.host != null ? var.host : host.name
}

file "direct" {
  count   = var.repo_direct ? 1 : 0
  path    = "/etc/apt/apt.conf.d/50pinery-pull-direct"
  content = "Acquire::http::Proxy::${local.repo_host} \"DIRECT\";\nAcquire::https::Proxy::${local.repo_host} \"DIRECT\";\n"
}

apt_source "pinery" {
  uris        = [var.repo_url]
  suites      = [var.suite]
  components  = [var.component]
  signing_key = var.repo_key
  depends_on  = [file.direct]
}

package "pinery" {
  name       = "pinery"
  state      = var.version == null ? "latest" : "present"
  version    = var.version
  depends_on = [apt_source.pinery]
}

directory "etc" {
  path = "/etc/pinery"
  mode = "0755"
}

file "trusted_key" {
  path       = "/etc/pinery/bundle.pub"
  content    = "${trimspace(var.trusted_key)}\n"
  mode       = "0644"
  depends_on = [directory.etc]
}

# The backend's URL holds a password: root only, and the plan shows no
# diff of it.
file "env" {
  path       = "/etc/pinery/pull.env"
  content    = "# Written by pinery's pull role: the environment of pinery-pull.service.\n${var.backend != null ? "PINERY_BACKEND='${var.backend}'\n" : ""}"
  mode       = "0600"
  sensitive  = true
  depends_on = [directory.etc]
}

systemd_unit "service" {
  name = "pinery-pull.service"
  content = templatefile("templates/pinery-pull.service.tmpl", {
    bundle    = local.bundle_arg
    host      = local.pull_host
    state_dir = var.state_dir
    timeout   = var.timeout
  })
}

systemd_unit "timer" {
  name = "pinery-pull.timer"
  content = templatefile("templates/pinery-pull.timer.tmpl", {
    interval         = var.interval
    randomized_delay = var.randomized_delay
  })
}

# The timer, not the service: an apply does not run a pull (the next
# tick does, or `systemctl start pinery-pull.service`). A changed
# schedule restarts the timer, which takes it.
service "timer" {
  name       = "pinery-pull.timer"
  enabled    = true
  watch      = [systemd_unit.timer]
  depends_on = [package.pinery, file.trusted_key, file.env, systemd_unit.service]
}

output "service" {
  description = "The unit that runs one pull: `systemctl start` it to pull now, `journalctl -u` it for the runs' output."
  value       = "pinery-pull.service"
}

output "timer" {
  description = "The timer that starts the service."
  value       = "pinery-pull.timer"
}

output "command" {
  description = "The pull the service runs, as a shell command (with /etc/pinery/pull.env in the environment)."
  value       = "/usr/bin/pinery pull --trusted-key /etc/pinery/bundle.pub --state-dir ${var.state_dir} --host ${local.pull_host} ${var.bundle_url}"
}
