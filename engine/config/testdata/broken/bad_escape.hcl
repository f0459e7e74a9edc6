# want: Invalid escape sequence
locals {
  a = "\q"
}
