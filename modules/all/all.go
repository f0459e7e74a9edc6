// Package all links every shipped resource type into the binary: adding a
// module means adding its folder and one line here.
package all

import (
	_ "github.com/pinery/pinery/modules/directory"
	_ "github.com/pinery/pinery/modules/file"
)
