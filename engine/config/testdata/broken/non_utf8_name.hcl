# want: Invalid character
locals {
  ÿ = 1
}
