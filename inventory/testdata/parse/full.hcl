# A clusterboard and a RockPro64 rack.
defaults {
  user            = "pinery"
  port            = 2222
  identity_file   = "keys/id_ed25519"
  known_hosts     = "known_hosts"
  connect_timeout = "5s"
  vars = {
    tz     = "UTC"
    role   = "none"
    ntp    = ["0.pool.ntp.org", "1.pool.ntp.org"]
  }
}

host "proxy" {
  address = "10.231.0.2"
  user    = "root"
  port    = 22
  groups  = ["edge"]
  vars    = { role = "proxy" }
}

host "sopine03" {
  address         = "10.231.0.13"
  identity_file   = ""
  connect_timeout = "1m30s"
  vars            = { role = "canary", weight = 3 }
}

group "all" {
  vars = { tz = "Europe/Berlin", apt_repo = "https://apt.example.org" }
}

group "render" {
  hosts    = ["sopine[01:07]"]
  children = ["render_db"]
  vars     = { role = "render", workers = 4 }
}

group "render_db" {
  hosts = ["sopine07"]
  vars  = { role = "db" }
}

group "rock" {
  hosts = ["rock[a:c]", "rock[1:9:4]"]
  vars  = { board = { model = "RockPro64", ram_gb = 4 } }
}
