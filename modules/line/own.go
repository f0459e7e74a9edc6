package line

import (
	"reflect"
	"sync"

	"github.com/pinery/pinery/engine/resource"
)

// Several line resources may edit one file. Each is planned from the same
// probe, so after the first is applied the others find the file changed
// since their plan. That change is this run's own, not someone else's: the
// edits made on a host connection are remembered here (content before →
// after), and a resource whose file moved only through them edits the file
// as it now is. Any other change still fails with "changed since the plan".
var (
	ownMu    sync.Mutex
	ownEdits = map[ownKey]map[string]string{}
)

type ownKey struct {
	h    resource.Runner
	path string
}

const absent = "absent"

// recordEdit notes that h's file at path went from old to new (SHA-256s,
// or "absent").
func recordEdit(h resource.Runner, path, old, new string) {
	if !reflect.TypeOf(h).Comparable() {
		return
	}
	ownMu.Lock()
	defer ownMu.Unlock()
	k := ownKey{h, path}
	if ownEdits[k] == nil {
		ownEdits[k] = map[string]string{}
	}
	ownEdits[k][old] = new
}

// ownChange reports whether h's file at path went from `from` to `to`
// through this run's own edits only.
func ownChange(h resource.Runner, path, from, to string) bool {
	if !reflect.TypeOf(h).Comparable() {
		return false
	}
	ownMu.Lock()
	defer ownMu.Unlock()
	chain := ownEdits[ownKey{h, path}]
	for i := 0; i <= len(chain) && from != to; i++ {
		next, ok := chain[from]
		if !ok {
			return false
		}
		from = next
	}
	return from == to
}
