# want: Invalid reference
file "a" {
  path       = "/a"
  content    = "a"
  depends_on = ["file.b"]
}
