# The example site: every board gets the library's base role (a motd from
# facts, a journal that spares the SD card); the boards of the fleet group
# get the web role of this site (nginx serving a small tree, its site file
# reloading nginx when it changes). Run it on the test fleet with
# `make demo`.

variable "listen_port" {
  type    = number
  default = 80
  validation {
    condition     = var.listen_port > 0 && var.listen_port < 65536
    error_message = "listen_port must be a TCP port (1-65535)."
  }
}

# A secret. In real life give it with PINERY_VAR_status_token or a
# --var-file kept out of the repository; plans never show it.
variable "status_token" {
  type      = string
  default   = "example-token-change-me"
  sensitive = true
}

role "base" {
  source = "base"
  inputs = {
    motd = "  Example site of pinery: nginx on port ${var.listen_port}."
  }
}

role "web" {
  source  = "./roles/web"
  targets = ["fleet"]
  inputs = {
    listen_port  = var.listen_port
    status_token = var.status_token
    static_files = {
      "robots.txt" = "User-agent: *\nDisallow: /\n"
      "humans.txt" = "Configured by pinery.\n"
    }
  }
}
