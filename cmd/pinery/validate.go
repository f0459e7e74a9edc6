package main

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

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
required values). Values that depend on hosts or facts are checked by plan.`,
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
