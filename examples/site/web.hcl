package "nginx" {
  name = "nginx-light"
}

directory "www" {
  path = local.www
  mode = "0755"
}

directory "static" {
  path = "${directory.www.path}/static"
  mode = "0755"
}

file "index" {
  path = "${directory.www.path}/index.html"
  content = templatefile("templates/index.html.tmpl", {
    host = host.name
    arch = fact.arch
  })
}

file "robots" {
  path    = "${directory.static.path}/robots.txt"
  content = "User-agent: *\nDisallow: /\n"
}

# The nginx site: a change here reloads nginx (watch); a change to the
# index page above does not.
file "site" {
  path = "/etc/nginx/sites-available/default"
  content = templatefile("templates/site.conf.tmpl", {
    port = var.listen_port
    root = directory.www.path
  })
  depends_on = [package.nginx]
}

service "nginx" {
  name    = "nginx"
  state   = "running"
  enabled = true
  reload  = true
  watch   = [file.site]
  depends_on = [package.nginx]
}
