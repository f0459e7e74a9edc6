// Package inventory reads the HCL inventory: hosts, groups, connection
// settings and variables, and selects hosts with Ansible-like limit
// selectors. It also holds the facts script run on every target.
//
// docs/inventory.md is the user reference for the format.
package inventory

import (
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Built-in defaults of the connection settings.
const (
	DefaultUser           = "root"
	DefaultPort           = 22
	DefaultKnownHosts     = "~/.ssh/known_hosts"
	DefaultConnectTimeout = 10 * time.Second
)

// AllGroup is the built-in group every host belongs to.
const AllGroup = "all"

// Inventory is a loaded inventory file.
type Inventory struct {
	Hosts  []*Host // in the order they first appear in the file
	Groups map[string]*Group
	Path   string // the file name as given to Load or Parse

	byName map[string]*Host
}

// Host is one target with its resolved connection settings and variables.
type Host struct {
	Name, Address, User string
	Port                int
	// IdentityFile and KnownHosts are absolute paths ("" when unset).
	IdentityFile, KnownHosts string
	ConnectTimeout           time.Duration
	// BecomePassword: the login user's sudo asks for a password
	// (become_password = true), which the run is given once for every
	// such host. Never set for root or a local host.
	BecomePassword bool
	// Local: run commands on this machine as the user running pinery,
	// without SSH (connection = "local"): the controller as a host, for
	// publishing a repository into a local directory or a pulled site.
	Local bool
	// Power switches the host out of band; nil when the inventory does
	// not say how.
	Power *Power
	// Groups lists every group the host is in, directly or through a child
	// group, sorted by name; it always holds "all".
	Groups []string
	// Vars are the merged variables: defaults < groups < host (see docs).
	Vars map[string]cty.Value
	// DeclRange is the host block's header, or for a host declared only by
	// a group's hosts list, that list entry.
	DeclRange hcl.Range
}

// Group is a named set of hosts.
type Group struct {
	Name string
	// Hosts lists every member, direct or through a child group, in
	// inventory order (like Ansible's groups['name']).
	Hosts []string
	// Children are the child groups as declared.
	Children []string
	// Vars are the group's own variables, not merged.
	Vars map[string]cty.Value
	// DeclRange is the group block's header, or where an undeclared group
	// was first named (a host's groups entry); empty for "all" unless declared.
	DeclRange hcl.Range
}

// Load reads and parses the inventory file at path.
func Load(path string) (*Inventory, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read inventory",
			Detail:   err.Error() + ". Pass the path of an inventory file (-i).",
		}}
	}
	return Parse(src, path)
}

// Host returns the host with the given name.
func (inv *Inventory) Host(name string) (*Host, bool) {
	if h, ok := inv.byName[name]; ok {
		return h, true
	}
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return nil, false
}

// VarsValue returns the host's variables as a cty object (an empty object
// when there are none).
func (h *Host) VarsValue() cty.Value {
	if len(h.Vars) == 0 {
		return cty.EmptyObjectVal
	}
	attrs := make(map[string]cty.Value, len(h.Vars))
	for k, v := range h.Vars {
		if v == cty.NilVal {
			v = cty.NullVal(cty.DynamicPseudoType)
		}
		attrs[k] = v
	}
	return cty.ObjectVal(attrs)
}

// InGroup reports whether the host is a member of the group.
func (h *Host) InGroup(name string) bool {
	for _, g := range h.Groups {
		if g == name {
			return true
		}
	}
	return false
}
