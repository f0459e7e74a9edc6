# want: Invalid character encoding
locals {
  a = "café"
}
