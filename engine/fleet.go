package engine

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/inventory"
)

// inventoryValue is the `inventory` object every expression sees: what a
// host may know of the rest of the fleet without asking it. It holds every
// host of the inventory, not only the selected ones, like Ansible's
// hostvars and groups:
//
//	inventory.hosts.NAME   {name, address, groups, vars, facts}
//	inventory.groups.NAME  [host names], in inventory order
//	inventory.roles.NAME   [host names] the site's role NAME targets
//
// Roles' `when` conditions are per host and depend on facts, so roles
// lists the hosts a role's targets select, not those it will apply to.
//
// A host's facts are those gathered in this run, else the last ones cached
// on this machine, else null (facts gives them).
func inventoryValue(inv *inventory.Inventory, site *config.Site, facts func(*inventory.Host) inventory.Facts) cty.Value {
	hosts := map[string]cty.Value{}
	for _, h := range inv.Hosts {
		attrs := hostValue(h).AsValueMap()
		attrs["facts"] = cty.NullVal(cty.DynamicPseudoType)
		if f := facts(h); f != nil {
			attrs["facts"] = f.Value()
		}
		hosts[h.Name] = cty.ObjectVal(attrs)
	}
	groups := map[string]cty.Value{}
	for name, g := range inv.Groups {
		groups[name] = names(g.Hosts)
	}
	roles := map[string]cty.Value{}
	for _, role := range site.Roles {
		if role.Parent != nil {
			continue
		}
		on := targeted(inv, role)
		var list []string
		for _, h := range inv.Hosts { // in inventory order
			if on == nil || on[h.Name] {
				list = append(list, h.Name)
			}
		}
		roles[role.Name] = names(list)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"hosts": cty.ObjectVal(hosts), "groups": cty.ObjectVal(groups), "roles": cty.ObjectVal(roles),
	})
}

// targeted is the set of hosts a role's targets select, each selector
// resolved once; nil for a role without targets (every host).
func targeted(inv *inventory.Inventory, role *config.Role) map[string]bool {
	if len(role.Targets) == 0 {
		return nil
	}
	on := map[string]bool{}
	for _, sel := range role.Targets {
		hs, _ := inv.Select(sel) // a selector matching nothing selects nothing
		for _, h := range hs {
			on[h.Name] = true
		}
	}
	return on
}

func names(ns []string) cty.Value {
	if len(ns) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(ns))
	for i, n := range ns {
		vs[i] = cty.StringVal(n)
	}
	return cty.ListVal(vs)
}
