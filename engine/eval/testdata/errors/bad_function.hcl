file "a" {
  path    = "/a"
  content = nosuchfunction("x") # ERROR: Call to unknown function
}
