# want: Invalid count
file "x" {
  count   = "many"
  path    = "/x${count.index}"
  content = "x"
}
