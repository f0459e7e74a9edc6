package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPlanCmd(g *globals) *cobra.Command {
	var detailed, asJSON bool
	var out string
	cmd := &cobra.Command{
		Use:   "plan [SITE]",
		Short: "Show what apply would change on each host",
		Long: `plan connects to every selected host once, reads the current state of all its
resources in one batched command, and shows what apply would change. It changes
nothing.`,
		Example: `  pinery plan -i inventory.hcl site/
  pinery plan -i inventory.hcl -l 'web,!h3' --var motd=hello site/
  pinery plan -i inventory.hcl --detailed-exitcode --json site/ > plan.json
  pinery plan -i inventory.hcl --out release.plan site/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, ok := g.prepare(args)
			if !ok {
				return exitError{1}
			}
			defer r.Close()
			defer g.printStats(r)
			ctx, stop := signalContext()
			defer stop()
			p, diags := r.Plan(ctx)
			if g.writeDiags(diags, r.Site.Parser) {
				return exitError{1}
			}
			var err error
			if asJSON {
				err = p.WriteJSON(g.stdout)
			} else {
				err = p.WriteText(g.stdout, g.style())
				g.writeStages(r)
			}
			if err != nil {
				return fmt.Errorf("writing the plan: %w", err)
			}
			if out != "" {
				if err := g.savePlan(out, siteArg(args), r, p); err != nil {
					return err
				}
			}
			switch {
			case p.HasErrors():
				return exitError{1}
			case detailed && p.HasChanges():
				return exitError{2}
			}
			return nil
		},
	}
	addRunFlags(cmd, g)
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on errors")
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the plan as JSON (see docs/json.md)")
	cmd.Flags().StringVar(&out, "out", "", "also save the plan to `FILE`, for pinery apply FILE (see docs/cli.md)")
	return cmd
}
