package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/pinery/pinery/inventory"
)

func newInventoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Show the hosts and groups of the inventory",
		Long: `inventory shows what pinery reads from the inventory file (-i): the hosts
with their resolved settings and merged variables, and the tree of groups.
Nothing is contacted.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newInventoryListCmd(g), newInventoryGraphCmd(g))
	return cmd
}

// inventoryHost is one host as inventory list --json prints it.
type inventoryHost struct {
	Address string                     `json:"address"`
	User    string                     `json:"user"`
	Port    int                        `json:"port"`
	Groups  []string                   `json:"groups"`
	Vars    map[string]json.RawMessage `json:"vars"`
}

func newInventoryListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [SELECTOR]",
		Short: "List hosts with their address, user, port, groups and merged variables",
		Long: `list prints the selected hosts (a host name, a group or any --limit
selector; default all) as the inventory resolves them: connection settings
after defaults, every group (through children too) and the variables merged
as expressions see host.vars.`,
		Example: `  pinery inventory list -i inventory.hcl
  pinery inventory list -i inventory.hcl render --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				g.limit = args[0]
			}
			_, hosts, diags := g.loadInventory()
			if g.writeDiags(diags) {
				return exitError{1}
			}
			if asJSON {
				out := map[string]inventoryHost{}
				for _, h := range hosts {
					vars := map[string]json.RawMessage{}
					for k, v := range h.Vars {
						b, err := varJSON(v)
						if err != nil {
							return fmt.Errorf("host %s: variable %s: %w", h.Name, k, err)
						}
						vars[k] = b
					}
					out[h.Name] = inventoryHost{Address: h.Address, User: h.User, Port: h.Port, Groups: h.Groups, Vars: vars}
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			for i, h := range hosts {
				if i > 0 {
					fmt.Fprintln(g.stdout)
				}
				if err := writeInventoryHost(g.stdout, h); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print hosts as JSON, keyed by host name")
	return cmd
}

func writeInventoryHost(w io.Writer, h *inventory.Host) error {
	fmt.Fprintf(w, "%s:\n", h.Name)
	fmt.Fprintf(w, "  address = %s\n", h.Address)
	fmt.Fprintf(w, "  user    = %s\n", h.User)
	fmt.Fprintf(w, "  port    = %d\n", h.Port)
	fmt.Fprintf(w, "  groups  = %s\n", listNames(h.Groups, len(h.Groups)))
	if len(h.Vars) == 0 {
		return nil
	}
	fmt.Fprintln(w, "  vars:")
	keys := make([]string, 0, len(h.Vars))
	width := 0
	for k := range h.Vars {
		keys = append(keys, k)
		width = max(width, len(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, err := varJSON(h.Vars[k])
		if err != nil {
			return fmt.Errorf("host %s: variable %s: %w", h.Name, k, err)
		}
		fmt.Fprintf(w, "    %-*s = %s\n", width, k, b)
	}
	return nil
}

// varJSON renders an inventory variable as compact JSON.
func varJSON(v cty.Value) (json.RawMessage, error) {
	if v == cty.NilVal || v.IsNull() {
		return json.RawMessage("null"), nil
	}
	return ctyjson.Marshal(v, v.Type())
}

func newInventoryGraphCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "graph [GROUP]",
		Short: "Print the groups as a tree, with their child groups and hosts",
		Long: `graph prints the tree of groups from "all" (or from GROUP), like
ansible-inventory --graph: groups are marked with @, child groups come
first, then the hosts that are members of the group and not of one of its
children. Under "all", hosts in no other group are listed in @ungrouped.`,
		Example: `  pinery inventory graph -i inventory.hcl
  pinery inventory graph -i inventory.hcl render`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.inventory == "" {
				g.writeDiags(errorDiag("No inventory", "Give the inventory file with -i FILE or set PINERY_INVENTORY."))
				return exitError{1}
			}
			inv, diags := inventory.Load(g.inventory)
			if g.writeDiags(diags) {
				return exitError{1}
			}
			root := inventory.AllGroup
			if len(args) == 1 {
				root = args[0]
			}
			if _, ok := inv.Groups[root]; !ok {
				g.writeDiags(errorDiag("No such group", fmt.Sprintf("The inventory has no group named %q.", root)))
				return exitError{1}
			}
			writeGroupTree(g.stdout, inv, root)
			return nil
		},
	}
}

// writeGroupTree writes group name and what is under it.
func writeGroupTree(w io.Writer, inv *inventory.Inventory, name string) {
	fmt.Fprintf(w, "@%s:\n", name)
	var walk func(name, prefix string, seen []string)
	walk = func(name, prefix string, seen []string) {
		grp := inv.Groups[name]
		children := slices.Clone(grp.Children)
		if name == inventory.AllGroup {
			children = topGroups(inv)
		}
		// Hosts shown under a child are not repeated here.
		inChild := map[string]bool{}
		for _, c := range children {
			if cg, ok := inv.Groups[c]; ok {
				for _, h := range cg.Hosts {
					inChild[h] = true
				}
			}
		}
		for _, c := range children {
			if slices.Contains(seen, c) {
				continue // a cycle: the inventory refuses those, but be safe
			}
			fmt.Fprintf(w, "%s|--@%s:\n", prefix, c)
			walk(c, prefix+"|  ", append(slices.Clip(seen), c))
		}
		var ungrouped []string
		for _, h := range grp.Hosts {
			if inChild[h] {
				continue
			}
			if name == inventory.AllGroup {
				ungrouped = append(ungrouped, h)
				continue
			}
			fmt.Fprintf(w, "%s|--%s\n", prefix, h)
		}
		if len(ungrouped) > 0 {
			fmt.Fprintf(w, "%s|--@ungrouped:\n", prefix)
			for _, h := range ungrouped {
				fmt.Fprintf(w, "%s|  |--%s\n", prefix, h)
			}
		}
	}
	walk(name, "  ", []string{name})
}

// topGroups lists, sorted, the groups other than all that are no group's
// child.
func topGroups(inv *inventory.Inventory) []string {
	isChild := map[string]bool{}
	for _, grp := range inv.Groups {
		for _, c := range grp.Children {
			isChild[c] = true
		}
	}
	var out []string
	for name := range inv.Groups {
		if name != inventory.AllGroup && !isChild[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
