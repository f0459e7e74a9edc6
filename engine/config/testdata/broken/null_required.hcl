# want: Invalid file resource
file "x" {
  path    = null
  content = "x"
}
