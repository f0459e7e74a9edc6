# want: Unclosed configuration block
file "x" {
  path = "/x"
