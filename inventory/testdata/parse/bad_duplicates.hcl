defaults {}
defaults {}

host "h1" {}
host "h1" {}

group "web" {}
group "web" {}

host "web" {}

group "db" {
  hosts = ["web", "h1"]
}
