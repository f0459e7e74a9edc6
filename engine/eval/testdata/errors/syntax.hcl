file "a" {
  path = "/a" content = "a" # ERROR: Missing newline after argument
}
