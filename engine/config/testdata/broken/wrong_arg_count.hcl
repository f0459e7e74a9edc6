# want: Not enough function arguments
file "x" {
  path    = "/x"
  content = upper()
}
