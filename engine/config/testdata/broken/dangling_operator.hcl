# want: Invalid expression
locals {
  a = 1 +
}
