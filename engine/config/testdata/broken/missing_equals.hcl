# want: Argument or block definition required
variable "x" {
  default 1
}
