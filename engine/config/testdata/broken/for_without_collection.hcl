# want: Invalid expression
locals {
  a = "%{ for x in }y%{ endfor }"
}
