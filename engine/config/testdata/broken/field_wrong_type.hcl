# want: Incorrect attribute value type
file "x" {
  path    = ["/x"]
  content = "x"
}
