# want: Unknown variable
file "x" {
  path    = "/x/${count.index}"
  content = "x"
}
