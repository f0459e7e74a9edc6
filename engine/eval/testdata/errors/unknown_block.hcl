fiel "x" { # ERROR: Unsupported block type
  path = "/x"
}
