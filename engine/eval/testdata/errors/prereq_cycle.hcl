file "drain" { # ERROR: Dependency cycle
  path    = "/drain"
  content = "x"
  prereq  = [file.web]
  depends_on = [file.web]
}
file "web" {
  path       = "/web"
  content    = "x"
}
file "b" {
  path    = "/b"
  content = "b"
  onfail  = [file.b] # ERROR: Resource names itself in onfail
}
