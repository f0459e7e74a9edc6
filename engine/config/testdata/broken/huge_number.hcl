# want: Invalid count
file "x" {
  count   = 1e400
  path    = "/x${count.index}"
  content = "x"
}
