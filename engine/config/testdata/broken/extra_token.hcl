# want: Missing newline after argument
locals {
  a = 1 2
}
