# want: Dependency cycle
file "x" {
  path    = "/x"
  content = file.x.path
}
