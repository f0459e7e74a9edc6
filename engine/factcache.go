package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"github.com/pinery/pinery/engine/atomicfile"
	"github.com/pinery/pinery/inventory"
)

// A site that reads facts would cost two command sessions per host: one to
// gather the facts, the next to probe what the facts decided. Instead the
// controller keeps each host's facts from the last run; the site is
// evaluated with them before connecting, and the facts script runs in the
// same session as the probes. Only when the facts changed (a new kernel,
// more memory, a first run) is the host evaluated again with the fresh
// facts and probed a second time.

// factCache is a directory of one JSON file per host. Errors reading or
// writing it only cost the second session; they never fail a run.
type factCache string

// file is named by what identifies the machine behind an inventory entry,
// so that a host renamed or re-addressed is not taken for another.
func (c factCache) file(h *inventory.Host) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%s\x00%t", h.Name, h.Address, h.Port, h.User, h.Local))
	return filepath.Join(string(c), hex.EncodeToString(sum[:12])+".json")
}

func (c factCache) load(h *inventory.Host) inventory.Facts {
	if c == "" {
		return nil
	}
	b, err := os.ReadFile(c.file(h))
	if err != nil {
		return nil
	}
	var f inventory.Facts
	if json.Unmarshal(b, &f) != nil || len(f) == 0 {
		return nil
	}
	return f
}

func (c factCache) store(h *inventory.Host, f inventory.Facts) {
	if c == "" {
		return
	}
	b, err := json.Marshal(f)
	if err != nil || os.MkdirAll(string(c), 0o700) != nil {
		return
	}
	_ = atomicfile.Write(c.file(h), b, 0o600)
}

// CacheFacts keeps facts gathered outside a run (`pinery facts`) in the
// cache directory dir, as a run keeps them: a later run evaluates the host
// with them, and hosts that read its outputs without it in their run (or
// a bundle) can evaluate it.
func CacheFacts(dir string, h *inventory.Host, f inventory.Facts) {
	factCache(dir).store(h, f)
}

// speculate evaluates, before any connection, every host whose facts are
// cached. A host whose evaluation fails keeps no graph: it is evaluated
// again with fresh facts, and its errors are reported then.
func (r *Run) speculate() {
	for _, h := range r.evalOrder() { // producers of outputs first
		f := factCache(r.opts.FactsCache).load(h.inv)
		if f == nil {
			continue
		}
		scope, err := r.outputScope(h)
		if err != nil {
			continue // planned once its producers are
		}
		scope.Fact = f.Value()
		g, diags := r.evaluate(h, scope)
		if g == nil || diags.HasErrors() {
			continue
		}
		h.cachedFacts, h.specGraph, h.specDiags = f, g, diags
	}
}

// sameFacts reports whether the facts gathered with the probes are those
// the host was evaluated with.
func sameFacts(a, b inventory.Facts) bool { return maps.Equal(a, b) }
