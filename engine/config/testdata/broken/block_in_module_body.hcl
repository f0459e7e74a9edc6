# want: Unsupported block type
file "x" {
  path = "/x"
  content {
  }
}
