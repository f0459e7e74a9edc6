package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine/backend"
)

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [SITE]",
		Short: "Show the fleet's convergence: each host's last run, pushed or pulled",
		Long: `status reads the site's backend (--backend, $PINERY_BACKEND, else the site's
SQLite file) and shows one row per host: its latest run (a push by "pinery
apply", or a pull by "pinery pull" on the board, with the bundle version),
when it started, how it ended for that host, how many resources it changed,
and when the host last converged. With -i, every selected host of the
inventory is listed, and those that never reported say so.

Pulls are recorded under the site a bundle was made from (its git remote and
path, or its directory): run status from the same site as "pinery bundle".`,
		Example: `  pinery status --backend postgres://pinery@db/pinery site/
  pinery status -i inventory.hcl -l render --json site/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			var want []string
			if g.inventory != "" {
				_, hosts, diags := g.loadInventory()
				if g.writeDiags(diags) {
					return exitError{1}
				}
				for _, h := range hosts {
					want = append(want, h.Name)
				}
			}
			b, site, err := g.openState(ctx, siteArg(args), false)
			var rows []backend.HostStatus
			switch {
			case errors.Is(err, backend.ErrNoState):
			case err != nil:
				return err
			default:
				defer b.Close()
				r, ok := b.(backend.Reports)
				if !ok {
					return fmt.Errorf("the backend keeps no fleet status")
				}
				if rows, err = r.Status(ctx, site.ID); err != nil {
					return err
				}
			}
			rows = withInventory(rows, want)
			if asJSON {
				list := []map[string]any{}
				for _, st := range rows {
					list = append(list, statusJSON(st))
				}
				return writeJSON(g, map[string]any{"format_version": "1.0", "site": site.ID, "hosts": list})
			}
			if len(rows) == 0 {
				fmt.Fprintf(g.stdout, "No runs recorded for the site %s.\n", site.ID)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "HOST\tLAST RUN\tSTARTED\tBUNDLE\tOUTCOME\tCHANGED\tLAST SUCCESS")
			for _, st := range rows {
				if st.RunID == 0 {
					fmt.Fprintf(tw, "%s\tnever reported\t-\t-\t-\t-\t-\n", st.Host)
					continue
				}
				bundle := st.Bundle
				if bundle == "" {
					bundle = "-"
				}
				fmt.Fprintf(tw, "%s\t%s %d\t%s\t%s\t%s\t%d\t%s\n", st.Host, st.Origin, st.RunID, stamp(st.Started), bundle,
					outcomeText(st.Outcome), st.Changed, stamp(st.LastSuccess))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON (see docs/pull.md)")
	cmd.Flags().StringVar(&g.state.backend, "backend", "", "where the runs are recorded: a postgres:// URL (default $PINERY_BACKEND, else SITE/.pinery/state.db)")
	return cmd
}

// withInventory adds a row, with no run, for each wanted host that never
// reported, in name order with the others; with want, only those hosts.
func withInventory(rows []backend.HostStatus, want []string) []backend.HostStatus {
	if want == nil {
		return rows
	}
	by := map[string]backend.HostStatus{}
	for _, r := range rows {
		by[r.Host] = r
	}
	out := make([]backend.HostStatus, 0, len(want))
	for _, h := range want {
		r, ok := by[h]
		if !ok {
			r = backend.HostStatus{Host: h}
		}
		out = append(out, r)
	}
	return out
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func statusJSON(st backend.HostStatus) map[string]any {
	if st.RunID == 0 {
		return map[string]any{"host": st.Host, "reported": false}
	}
	m := map[string]any{"host": st.Host, "reported": true, "run": st.RunID, "origin": st.Origin, "started": st.Started.UTC(),
		"outcome": outcomeText(st.Outcome), "changed": st.Changed, "failed": st.Failed}
	if st.Bundle != "" {
		m["bundle"] = st.Bundle
	}
	if !st.Ended.IsZero() {
		m["ended"] = st.Ended.UTC()
	}
	if st.Error != "" {
		m["error"] = st.Error
	}
	if !st.LastSuccess.IsZero() {
		m["last_success"] = st.LastSuccess.UTC()
	}
	return m
}
