file "a" {
  for_each = toset(["x"])
  count    = 1 # ERROR: Both for_each and count
  path     = "/a"
  content  = "a"
}
