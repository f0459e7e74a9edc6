package main

import (
	"fmt"

	"github.com/sourcegraph/conc/pool"
	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
)

func newUnlockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock SELECTOR",
		Short: "Break the apply lock of hosts whose run died",
		Long: `An apply locks each host it changes (/var/lib/pinery/lock on the host, with who
holds it, since when and until when); another apply of that host meanwhile is
refused, naming the holder. A lock whose run died expires by itself after two
hours; unlock breaks it now, on the selected hosts (a host name, a group or any
--limit selector), and says whose it was. Make sure that run is really gone.`,
		Example: `  pinery unlock -i inventory.hcl sopine03`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g.limit = args[0]
			_, hosts, diags := g.loadInventory()
			if g.writeDiags(diags) {
				return exitError{1}
			}
			ctx, stop := signalContext()
			defer stop()
			type result struct {
				was string
				err error
			}
			results := make([]result, len(hosts))
			p := pool.New().WithMaxGoroutines(engine.DefaultParallelism)
			for i, h := range hosts {
				p.Go(func() {
					conn, err := engine.Dial(ctx, h)
					if err != nil {
						results[i].err = err
						return
					}
					defer conn.Close()
					results[i].was, results[i].err = engine.Unlock(ctx, conn)
				})
			}
			p.Wait()
			failed := 0
			for i, h := range hosts {
				switch r := results[i]; {
				case r.err != nil:
					failed++
					fmt.Fprintf(g.stdout, "%s: %v\n", h.Name, r.err)
				case r.was == "":
					fmt.Fprintf(g.stdout, "%s: not locked\n", h.Name)
				default:
					fmt.Fprintf(g.stdout, "%s: broke the lock of %s\n", h.Name, r.was)
				}
			}
			if failed > 0 {
				return exitError{1}
			}
			return nil
		},
	}
}
