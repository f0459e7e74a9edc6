# want: Missing name for file
file {
  path = "/x"
}
