file "a" {
  path      = "/a"
  content   = "a"
  onchanges = [file.nope] # ERROR: Reference to undeclared resource
  notify    = [file.nope2] # ERROR: Reference to undeclared resource
}
