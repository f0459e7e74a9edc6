# want: Duplicate object key
file "x" {
  path    = "/x"
  content = jsonencode({ for x in ["a", "a"] : x => 1 })
}
