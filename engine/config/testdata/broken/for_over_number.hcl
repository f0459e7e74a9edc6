# want: Iteration over non-iterable value
file "x" {
  path    = "/x"
  content = join(",", [for x in 1 : x])
}
