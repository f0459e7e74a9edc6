# want: Missing key/value separator
locals {
  a = { "x" 1 }
}
