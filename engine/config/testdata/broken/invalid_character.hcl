# want: Invalid character
locals {
  a = 1 @ 2
}
