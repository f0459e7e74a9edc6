defaults {
  port            = "ssh"
  connect_timeout = "5 seconds"
  vars            = "tz=UTC"
}

host "h1" {
  port    = 70000
  address = ""
  groups  = [1, "ok", {}]
  user    = ["root"]
}

host "h2" {
  port            = 22.5
  connect_timeout = "-1s"
  known_hosts     = ""
  identity_file   = "~bob/.ssh/id"
}

group "web" {
  hosts    = "h1"
  children = "db"
}
