defaults {
  user = var.user
  vars = {
    tz    = local.tz
    hosts = "${upper("x")}"
    list  = [for h in host.all : h.name]
  }
}

host "h1" {
  address = "10.0.0.${count.index}"
  vars    = { ok = "literal ${"interpolation"}" }
}
