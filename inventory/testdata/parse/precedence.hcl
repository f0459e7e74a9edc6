# Depth decides first (all=0, top-level=1, their children=2, ...), then name.
defaults {
  vars = { a = "defaults", b = "defaults", c = "defaults", d = "defaults", e = "defaults", f = "defaults" }
}

group "all" {
  vars = { a = "all", b = "all", c = "all", d = "all", e = "all" }
}

# zz is a parent of aa: zz (depth 1) before aa (depth 2) despite the names.
group "zz" {
  children = ["aa"]
  vars     = { b = "zz", c = "zz", d = "zz" }
}

group "aa" {
  hosts = ["h"]
  vars  = { c = "aa", d = "aa" }
}

# bb and cc are unrelated top-level groups: cc wins by name.
group "bb" {
  hosts = ["h"]
  vars  = { d = "bb", e = "bb" }
}

group "cc" {
  hosts = ["h"]
  vars  = { e = "cc" }
}

host "h" {
  vars = { f = "host", nested = { x = 1 } }
}
