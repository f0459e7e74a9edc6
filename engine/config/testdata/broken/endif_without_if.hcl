# want: Unexpected endif directive
locals {
  a = "x%{ endif }"
}
