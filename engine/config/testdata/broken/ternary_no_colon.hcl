# want: Missing false expression in conditional
locals {
  a = true ? 1
}
