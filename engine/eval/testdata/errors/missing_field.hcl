file "x" { # ERROR: Missing required argument
  content = "x"
}
