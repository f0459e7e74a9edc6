// Command pinery plans and applies HCL states to hosts over SSH.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
