// Package transport runs commands on hosts. A host is something you can run
// a command on (with stdin); everything else is shell on top of that.
package transport

import (
	"errors"

	"github.com/pinery/pinery/engine/resource"
)

// Host is a connected target.
type Host interface {
	resource.Runner
	// Sessions counts the command sessions opened so far (for benchmarks
	// and the "connect once, ask once" tests).
	Sessions() int
	Close() error
}

// Errors a caller may test for with errors.Is.
var (
	ErrUnreachable     = errors.New("unreachable")
	ErrAuth            = errors.New("authentication failed")
	ErrHostKeyUnknown  = errors.New("host key unknown")
	ErrHostKeyMismatch = errors.New("host key mismatch")
)
