file "a" {
  for_each = ["x", "y"] # ERROR: Invalid for_each value
  path     = "/${each.key}"
  content  = "a"
}
