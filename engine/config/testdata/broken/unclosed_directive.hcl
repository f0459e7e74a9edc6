# want: Unexpected end of template
locals {
  a = "%{ if true }x"
}
