# want: Invalid for_each
file "x" {
  for_each = 3
  path     = "/x"
  content  = "x"
}
