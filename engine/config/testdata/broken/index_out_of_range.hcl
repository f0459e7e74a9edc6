# want: Invalid index
file "x" {
  path    = "/x"
  content = ["a"][5]
}
