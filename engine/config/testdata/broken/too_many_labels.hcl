# want: Extraneous label for variable
variable "a" "b" {}
