file "1st" { # ERROR: Invalid resource name
  path    = "/a"
  content = "a"
}
