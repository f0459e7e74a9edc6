# want: Invalid default value for variable
variable "x" {
  type    = number
  default = "many"
}
