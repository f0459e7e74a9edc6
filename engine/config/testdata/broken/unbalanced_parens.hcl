# want: Unbalanced parentheses
locals {
  a = (1 + 2
}
