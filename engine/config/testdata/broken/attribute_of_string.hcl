# want: Unsupported attribute
file "x" {
  path    = "/x"
  content = "a".b
}
