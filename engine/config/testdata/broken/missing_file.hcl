# want: Error in function call
file "x" {
  path    = "/x"
  content = file("no-such-file")
}
