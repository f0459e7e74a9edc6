defaults {
  usr = "root"
}

host "h1" {
  adress = "10.0.0.1"
  vars {
    a = 1
  }
}

hosts "h2" {}

group "web" "extra" {}

region = "eu"
