file "a" { # ERROR: Dependency cycle
  path    = "/a"
  content = file.b.path
}
file "b" {
  path    = "/b"
  content = file.a.path
}
