# want: Invalid function argument
file "x" {
  path    = "/x"
  content = upper(["a"])
}
