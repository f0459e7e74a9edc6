package resource

import (
	"bytes"
	"errors"
)

// ErrDiskFull is the class of a command's failure on a host whose
// filesystem is full (ENOSPC) or whose disk quota is used up (EDQUOT):
// Result.Err says so first, whichever module's script met it.
var ErrDiskFull = errors.New("no space left on the host's filesystem (disk full)")

// diskFull tells ENOSPC and EDQUOT by their messages (strerror's in the C
// locale: coreutils, sh and apt print these).
func diskFull(out []byte) bool {
	return bytes.Contains(out, []byte("No space left on device")) || bytes.Contains(out, []byte("Disk quota exceeded"))
}
