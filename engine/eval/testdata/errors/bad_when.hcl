file "a" {
  path    = "/a"
  content = "a"
  when    = "sometimes" # ERROR: Invalid when condition
}
