group "a" {
  children = ["b"]
}

group "b" {
  children = ["c", "d"]
}

group "c" {
  children = ["a"]
}

group "d" {
  children = ["b"]
}

group "self" {
  children = ["self"]
}

group "e" {
  children = ["all", "dbs", "nosuch"]
}

group "db" {}
