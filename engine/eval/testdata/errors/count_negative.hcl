file "a" {
  count   = -1 # ERROR: Invalid count value
  path    = "/a"
  content = "a"
}
