file "x" {
  path    = "/x"
  content = ["a"] # ERROR: Incorrect attribute value type
}
