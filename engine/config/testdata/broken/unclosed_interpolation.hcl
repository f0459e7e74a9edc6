# want: Invalid multi-line string
locals {
  a = "${var.x"
}
