# want: Unsupported block type
nosuch "x" {
  a = 1
}
