# want: Call to unknown function
locals {
  a = nosuch(1)
}
file "x" {
  path    = "/x"
  content = local.a
}
