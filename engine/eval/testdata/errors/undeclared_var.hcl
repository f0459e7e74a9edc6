file "a" {
  path    = var.nope # ERROR: Unsupported attribute
  content = "a"
}
