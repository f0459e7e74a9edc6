group "web" {
  hosts = [
    "sopine[07:01]",
    "node[1:c]",
    "rock[1:3",
    "n[01:100]",
    "x[a:C]",
    "y[1:5:0]",
    "z]",
    "bad name",
    "ok[1:2]",
  ]
}
