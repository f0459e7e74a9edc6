# want: Invalid file resource
file "x" {
  path    = "relative/path"
  content = "x"
}
