file "x" {
  path    = file.nope.path # ERROR: Reference to undeclared resource
  content = "x"
}
