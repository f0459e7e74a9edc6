package main

import (
	"errors"
	"fmt"

	"github.com/sourcegraph/conc/pool"
	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/backend"
)

func newUnlockCmd(g *globals) *cobra.Command {
	var site bool
	cmd := &cobra.Command{
		Use:   "unlock SELECTOR | --site [SITE]",
		Short: "Break the apply lock of hosts, or of the site, whose run died",
		Long: `An apply locks each host it changes (/var/lib/pinery/lock on the host, with who
holds it, since when and until when); another apply of that host meanwhile is
refused, naming the holder. A lock whose run died expires by itself after two
hours; unlock breaks it now, on the selected hosts (a host name, a group or any
--limit selector), and says whose it was. Make sure that run is really gone.

With --site, unlock breaks the site lock instead (docs/backends.md): the lock
an apply holds in the state backend while it changes any host of the site.
SQLite's expires two hours after its run died; PostgreSQL's ends with its
run's connection, and unlock --site ends that connection. --site breaks
every lock of the site, those of sharded applies too; with --shard I/N, only
that shard's.`,
		Example: `  pinery unlock -i inventory.hcl sopine03
  pinery unlock --site site/
  pinery unlock --site --shard 2/4 site/`,
		Args: func(cmd *cobra.Command, args []string) error {
			if site {
				return cobra.MaximumNArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if site {
				return g.unlockSite(siteArg(args))
			}
			g.limit = args[0]
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
				was string
				err error
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
	cmd.Flags().BoolVar(&site, "site", false, "break the site lock in the state backend, not hosts' locks")
	addBackendFlag(cmd, g)
	return cmd
}

// unlockSite breaks the site lock and says whose it was.
func (g *globals) unlockSite(dir string) error {
	ctx, stop := signalContext()
	defer stop()
	b, site, err := g.openState(ctx, dir, false)
	if errors.Is(err, backend.ErrNoState) {
		fmt.Fprintf(g.stdout, "site %s: not locked\n", site.ID)
		return nil
	}
	if err != nil {
		return err
	}
	defer b.Close()
	was, err := b.BreakLock(ctx, site.ID, g.lockShard())
	if err != nil {
		return err
	}
	if len(was) == 0 {
		fmt.Fprintf(g.stdout, "site %s: not locked\n", site.ID)
	}
	for _, h := range was {
		fmt.Fprintf(g.stdout, "site %s: broke the lock of %s\n", site.ID, h)
	}
	return nil
}
