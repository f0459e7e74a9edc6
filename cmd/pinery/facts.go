package main

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/sourcegraph/conc/pool"
	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/inventory"
)

func newFactsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "facts [SELECTOR]",
		Short: "Gather and print the facts of hosts",
		Long: `facts connects to the selected hosts (a host name, a group or any --limit
selector; default all) and prints what expressions see as fact.*. It keeps
them in the facts cache (~/.cache/pinery/facts), as plan and apply do: hosts
outside a later run, and bundles, evaluate these hosts with them.`,
		Example: `  pinery facts -i inventory.hcl h1
  pinery facts -i inventory.hcl arm64 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				g.limit = args[0]
			}
			_, hosts, diags := g.loadInventory()
			if g.writeDiags(diags) {
				return exitError{1}
			}
			dial, ok := g.dialer(hosts)
			if !ok {
				return exitError{1}
			}
			ctx, stop := signalContext()
			defer stop()
			type result struct {
				facts inventory.Facts
				err   error
			}
			results := make([]result, len(hosts))
			p := pool.New().WithMaxGoroutines(engine.DefaultParallelism)
			for i, h := range hosts {
				p.Go(func() {
					conn, err := dial(ctx, h)
					if err != nil {
						results[i].err = err
						return
					}
					defer conn.Close()
					results[i].facts, results[i].err = engine.GatherFacts(ctx, conn)
					if results[i].err == nil {
						engine.CacheFacts(factsCacheDir(), h, results[i].facts)
					}
				})
			}
			p.Wait()
			failed := 0
			if asJSON {
				out := map[string]any{}
				for i, h := range hosts {
					if results[i].err != nil {
						failed++
						out[h.Name] = map[string]string{"error": results[i].err.Error()}
					} else {
						out[h.Name] = results[i].facts
					}
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				for i, h := range hosts {
					fmt.Fprintf(g.stdout, "%s:\n", h.Name)
					if results[i].err != nil {
						failed++
						fmt.Fprintf(g.stdout, "  error: %v\n", results[i].err)
						continue
					}
					keys := make([]string, 0, len(results[i].facts))
					for k := range results[i].facts {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						fmt.Fprintf(g.stdout, "  %-16s = %q\n", k, results[i].facts[k])
					}
				}
			}
			if failed > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print facts as JSON, keyed by host")
	return cmd
}
