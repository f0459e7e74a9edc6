# The controller builds pinery's own packages: the build module runs on
# this machine (no SSH), as the user running make (root: the build module's
# work directory is /var/lib/pinery/builds/NAME).
host "controller" {
  connection = "local"
}
