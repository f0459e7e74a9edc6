# base: what every board of a fleet gets. A message of the day that says
# what the board is, a journal that does not wear out its SD card or eMMC,
# and a few packages.

variable "motd" {
  type        = string
  default     = ""
  description = "Extra lines for the message of the day."
}

variable "journal_max_use" {
  type        = string
  default     = "64M"
  description = "Most disk space journald may use (SystemMaxUse=)."
  validation {
    condition     = can(regex("^[0-9]+[KMG]$", var.journal_max_use))
    error_message = "journal_max_use is a size like 64M or 1G."
  }
}

variable "packages" {
  type        = set(string)
  default     = []
  description = "Packages every board has."
}

file "motd" {
  path     = "/etc/motd"
  template = "templates/motd.tmpl"
  vars = {
    name    = host.name
    os      = fact.os_pretty_name
    arch    = fact.arch
    cpus    = fact.cpu_count
    memory  = fact.memory_mb
    model   = fact.board_model
    extra   = var.motd
  }
}

file "journald" {
  path    = "/etc/systemd/journald.conf.d/50-pinery-base.conf"
  parents = true
  content = <<-EOT
    # Managed by pinery (role base).
    [Journal]
    SystemMaxUse=${var.journal_max_use}
  EOT
}

service "journald" {
  name    = "systemd-journald"
  state   = "unmanaged"
  enabled = null
  watch   = [file.journald]
}

package "base" {
  for_each = var.packages
  name     = each.key
}

output "motd_path" {
  value = file.motd.path
}
