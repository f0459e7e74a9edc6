# want: Invalid type specification
variable "x" {
  type = strin
}
