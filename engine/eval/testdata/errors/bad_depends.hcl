file "x" {
  path       = "/x"
  content    = "x"
  depends_on = ["file.y"] # ERROR: Invalid reference in depends_on
}
