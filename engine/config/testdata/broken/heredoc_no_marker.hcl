# want: Invalid expression
locals {
  a = <<
}
