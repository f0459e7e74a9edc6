file "x" {
  path   = "/x"
  colour = "red" # ERROR: Unsupported argument
}
