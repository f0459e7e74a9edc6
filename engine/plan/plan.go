// Package plan holds plans as data: what each host needs, resource by
// resource, rendered as text for people and JSON for machines.
package plan

import (
	"github.com/pinery/pinery/engine/resource"
)

// FormatVersion is the version of the JSON document; it changes only in
// ways that old readers can ignore unless the major number changes.
const FormatVersion = "1.0"

// Plan is the whole run: one HostPlan per selected host, in inventory order.
type Plan struct {
	Hosts []*HostPlan
}

// HostPlan is what one host needs.
type HostPlan struct {
	Host      string
	Resources []*ResourcePlan
	// Error is set when the host could not be planned (unreachable, probe
	// failed); the other hosts are planned regardless.
	Error error
	// JournalHash is a digest of the host's journal of owed refreshes.
	JournalHash string
	// Deferred, when set, says why the host's resources are known only
	// after other hosts are applied: it is planned (and applied) then.
	Deferred string
}

// ResourcePlan is one resource's planned action.
type ResourcePlan struct {
	Addr    string
	Action  resource.Action
	Changes []resource.Change
	Diff    string   // unified diff of file content, if any
	Reasons []string // why: "watches file.site (changed)"
	// Conditional, when set, says the action happens only if something
	// else goes wrong in the apply ("only if exec.migrate fails"); it does
	// not count as a change.
	Conditional string
	Error       error // the resource could not be planned
	// ProbeHash is a digest of what the probe saw (never the content), so
	// that a saved plan can tell which resources drifted since.
	ProbeHash string
}

// Counts tallies actions.
type Counts struct {
	Create, Update, Delete, Run, Errors int
}

// Changed is the number of resources that will change.
func (c Counts) Changed() int { return c.Create + c.Update + c.Delete + c.Run }

// Counts tallies one host's actions.
func (h *HostPlan) Counts() Counts {
	var c Counts
	for _, r := range h.Resources {
		if r.Error != nil {
			c.Errors++
			continue
		}
		if r.Conditional != "" {
			continue
		}
		switch r.Action {
		case resource.Create:
			c.Create++
		case resource.Update:
			c.Update++
		case resource.Delete:
			c.Delete++
		case resource.Run:
			c.Run++
		}
	}
	if h.Error != nil {
		c.Errors++
	}
	return c
}

// Counts tallies the whole plan.
func (p *Plan) Counts() Counts {
	var c Counts
	for _, h := range p.Hosts {
		hc := h.Counts()
		c.Create += hc.Create
		c.Update += hc.Update
		c.Delete += hc.Delete
		c.Run += hc.Run
		c.Errors += hc.Errors
	}
	return c
}

// HasChanges reports whether applying would change anything (a host
// known only after apply may).
func (p *Plan) HasChanges() bool { return p.Counts().Changed() > 0 || p.Deferred() > 0 }

// Deferred is the number of hosts known only after other hosts' apply.
func (p *Plan) Deferred() int {
	n := 0
	for _, h := range p.Hosts {
		if h.Error == nil && h.Deferred != "" {
			n++
		}
	}
	return n
}

// HasErrors reports whether any host or resource failed to plan.
func (p *Plan) HasErrors() bool { return p.Counts().Errors > 0 }
