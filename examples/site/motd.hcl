file "motd" {
  path = "/etc/motd"
  mode = "0644"
  content = templatefile("templates/motd.tmpl", {
    greeting = var.greeting
    host     = host.name
    fact     = fact
  })
}
