variable "port" {
  type    = number
  default = 70000
  validation {
    condition     = var.port < 65536 # ERROR: Invalid value for variable "port"
    error_message = "port must be below 65536."
  }
}
