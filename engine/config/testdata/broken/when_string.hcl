# want: Invalid when
file "x" {
  when    = "yes"
  path    = "/x"
  content = "x"
}
