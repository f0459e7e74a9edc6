# want: Unterminated template string
locals {
  a = "abc
}
