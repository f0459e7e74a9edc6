# want: Role not found
role "web" {
  source = "./no-such-role"
}
