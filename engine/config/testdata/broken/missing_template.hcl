# want: Error in function call
file "x" {
  path    = "/x"
  content = templatefile("no-such.tpl", {})
}
