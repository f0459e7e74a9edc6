# want: Unterminated template string
locals {
  a = <<EOT
line
}
