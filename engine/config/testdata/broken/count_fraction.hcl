# want: Invalid count
file "x" {
  count   = 1.5
  path    = "/x${count.index}"
  content = "x"
}
