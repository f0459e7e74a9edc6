# want: Unexpected end of template
locals {
  a = <<EOT
%{ if true }x
EOT
}
