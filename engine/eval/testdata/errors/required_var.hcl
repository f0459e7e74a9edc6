variable "root" { # ERROR: No value for required variable
  type = string
}
