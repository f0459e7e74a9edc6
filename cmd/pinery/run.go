package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/inventory"
	"github.com/pinery/pinery/states"
)

// siteArg is the site directory: the first argument, or the current one.
func siteArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return "."
}

// loadInventory reads the inventory and applies --limit.
func (g *globals) loadInventory() (*inventory.Inventory, []*inventory.Host, hcl.Diagnostics) {
	if g.inventory == "" {
		return nil, nil, errorDiag("No inventory", "Give the inventory file with -i FILE or set PINERY_INVENTORY.")
	}
	inv, diags := inventory.Load(g.inventory)
	if diags.HasErrors() {
		return nil, nil, diags
	}
	hosts, err := inv.Select(g.limit)
	if err != nil {
		return nil, nil, append(diags, errorDiag("Invalid --limit", err.Error())...)
	}
	shard, err := inventory.ParseShard(g.shard)
	if err != nil {
		return nil, nil, append(diags, errorDiag("Invalid --shard", err.Error())...)
	}
	return inv, shard.Of(hosts), diags
}

func (g *globals) inputs() (eval.Inputs, hcl.Diagnostics) {
	in := eval.Inputs{Vars: map[string]string{}, VarFiles: g.varFiles, Env: os.Environ(), AgeIdentities: g.ageIDs}
	for _, kv := range g.vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return in, errorDiag("Invalid --var", fmt.Sprintf("%q is not name=value.", kv))
		}
		in.Vars[k] = v
	}
	return in, nil
}

// prepare loads the inventory and the site and evaluates what can be
// evaluated offline. Any error here means nothing was contacted.
func (g *globals) prepare(args []string) (*engine.Run, bool) {
	inv, hosts, diags := g.loadInventory()
	if g.writeDiags(diags) {
		return nil, false
	}
	in, diags := g.inputs()
	if g.writeDiags(diags) {
		return nil, false
	}
	pw, diags := g.becomePassword(hosts)
	if g.writeDiags(diags) {
		return nil, false
	}
	g.tally = newTally()
	lib, diags := library()
	if g.writeDiags(diags) {
		return nil, false
	}
	r, diags := engine.Load(engine.Options{
		SiteDir:     siteArg(args),
		Hosts:       hosts,
		Inputs:      in,
		Parallelism: g.parallelism,
		HostTimeout: g.hostTimeout,
		Dial:        becomeDialer(pw),
		Library:     lib,
		Inventory:   inv,
		Partial:     g.state.pull != nil,
		FactsCache:  factsCacheDir(),
		Outputs:     g.carried,
		Started: func(host, addr string) {
			g.tally.started(host, addr)
			g.resourceStarted(host, addr)
		},
		Finished: g.hostFinished,
	})
	if g.writeDiags(diags, r.Site.Parser) {
		return nil, false
	}
	tightenGC()
	return r, true
}

// factsCacheDir keeps hosts' facts between runs (see engine.Options);
// without a cache directory every run gathers facts in a session of its own.
func factsCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pinery", "facts")
}

// library is the state library's search path ($PINERY_STATES, then the
// roles shipped in the binary).
func library() ([]string, hcl.Diagnostics) {
	dirs, err := states.Dirs()
	if err != nil {
		return dirs, errorDiag("Cannot unpack the state library", err.Error()+". Set PINERY_STATES to a directory of roles, or make the cache directory writable.")
	}
	return dirs, nil
}

// printStats writes the per-host cost of a run when --stats is given.
func (g *globals) printStats(r *engine.Run) {
	if !g.stats {
		return
	}
	for _, st := range r.Stats() {
		fmt.Fprintf(g.stderr, "%s: %s, %s\n", st.Host, plural(st.Connections, "connection", "connections"), plural(st.Sessions, "session", "sessions"))
	}
}
