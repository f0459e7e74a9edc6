package main

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/inventory"
)

func newValidateCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate [SITE]",
		Short: "Check a site (and the inventory, when given) without contacting any host",
		Long: `validate checks the site's files offline: syntax, block types, fields and their
types, references, dependency cycles. With -i it also checks the inventory.
With --var or --var-file it also checks the variables' values as plan would
(var files read, age-encrypted ones decrypted, types, validation rules,
required values). With -i as well (and every variable given, or none
required), each selected host's resources are built as plan builds them, so
a field's bad value is reported for the hosts it is bad on; a site that reads
facts is built this way by plan only. Nothing is contacted.`,
		Example: `  pinery validate site/
  pinery validate -i inventory.hcl --json site/
  pinery validate --var-file secrets.hcl.age --age-identity key.txt site/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, diags := library()
			site, d := config.Load(siteArg(args), config.Options{Library: lib})
			diags = append(diags, d...)
			_, d = eval.Compile(site)
			diags = append(diags, d...)
			if len(g.vars) > 0 || len(g.varFiles) > 0 {
				in, d := g.inputs()
				diags = append(diags, d...)
				if !d.HasErrors() {
					_, d = eval.Variables(site, in)
					diags = append(diags, d...)
				}
			}
			if g.inventory != "" {
				_, d := inventory.Load(g.inventory)
				diags = append(diags, d...)
			}
			// With an inventory and every variable's value, each host's
			// resources are built as plan would (when facts are not needed).
			if g.inventory != "" && !diags.HasErrors() && (len(g.vars) > 0 || len(g.varFiles) > 0 || !needsValues(site)) {
				inv, hosts, d := g.loadInventory()
				diags = append(diags, d...)
				in, d2 := g.inputs()
				diags = append(diags, d2...)
				if !diags.HasErrors() {
					r, d := engine.Load(engine.Options{SiteDir: siteArg(args), Hosts: hosts, Inputs: in, Library: lib, Inventory: inv})
					diags = append(diags, d...)
					if r != nil && r.Site != nil {
						site = r.Site // its parser holds the sources the diagnostics quote
					}
				}
			}
			if asJSON {
				if err := writeDiagsJSON(g.stdout, diags); err != nil {
					return err
				}
			} else if !g.writeDiags(diags, site.Parser) {
				fmt.Fprintln(g.stdout, "The configuration is valid.")
			}
			if diags.HasErrors() {
				return exitError{1}
			}
			return nil
		},
	}
	addVarFlags(cmd, g)
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the result as JSON")
	return cmd
}

var _ = hcl.DiagError

// needsValues reports whether the site has variables without a default.
func needsValues(site *config.Site) bool {
	for _, v := range site.Variables {
		if v.Default == cty.NilVal {
			return true
		}
	}
	return false
}
