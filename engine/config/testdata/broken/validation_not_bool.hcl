# want: Invalid validation
variable "x" {
  default = "a"
  validation {
    condition     = "yes"
    error_message = "no"
  }
}
