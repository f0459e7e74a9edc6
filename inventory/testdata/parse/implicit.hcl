group "web" {
  hosts = ["h2", "h1"]
}

host "h1" {
  address = "192.0.2.1"
  groups  = ["new", "web", "all"]
}

host "h3" {}

group "new" {
  hosts = ["h4.example.org"]
}
