file "a" {
  path    = "/a"
  content = "a"
}
file "a" { # ERROR: Duplicate resource
  path    = "/a2"
  content = "a"
}
