file "x" {
  path       = "/x"
  content    = "x"
  depends_on = [service.nope] # ERROR: Reference to undeclared resource
}
