package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine/backend"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var asJSON bool
	var last, shards int
	var label string
	cmd := &cobra.Command{
		Use:   "history [SITE]",
		Short: "List the site's recent applies, or show one",
		Long: `Every apply that changes something is recorded in the site's state backend
(docs/backends.md): who ran it, from which machine and git commit, the command
line (without sensitive values), when, how it ended, and per host what changed
and what failed, with the error messages apply printed. history lists the most
recent runs of the site; "history show ID" shows one with its hosts.

--label L lists the runs recorded with that label (apply --run-label, by
default $PINERY_RUN_LABEL, else $GITHUB_RUN_ID): the shards of one CI run.
A "Total:" line sums them up, each host once, as the latest run of the label
left it: how many converged, changed, failed and were not applied
(unreachable, refused), and which shards of the N are missing (N from
--shards, else from the recorded shards). A missing shard never took the
lock, was refused, or had nothing to change.

An apply with nothing to change, or refused before it started (the site
locked, a configuration error), is not recorded.`,
		Example: `  pinery history site/
  pinery history -n 5 --json site/
  pinery history show 12 site/
  pinery history --label "$GITHUB_RUN_ID" --shards 4 site/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if last <= 0 {
				return fmt.Errorf("-n: %d is not a positive number of runs", last)
			}
			if shards < 0 || shards == 1 || shards > 0 && label == "" {
				return fmt.Errorf("--shards %d: give a number of shards above 1, with --label", shards)
			}
			ctx, stop := signalContext()
			defer stop()
			b, site, err := g.openState(ctx, siteArg(args), false)
			var runs []backend.Run
			switch {
			case errors.Is(err, backend.ErrNoState):
			case err != nil:
				return err
			case label != "":
				defer b.Close()
				runs, err = b.LabelRuns(ctx, site.ID, label)
			default:
				defer b.Close()
				runs, err = b.Runs(ctx, site.ID, last)
			}
			if err != nil {
				return err
			}
			if label != "" {
				sum := summarize(runs, shards)
				if !asJSON {
					return writeLabel(g, site.ID, label, runs, sum)
				}
				list := []jsonRun{}
				for _, r := range runs {
					list = append(list, toJSON(r, false))
				}
				return writeJSON(g, map[string]any{"format_version": historyFormat, "site": site.ID, "label": label, "runs": list, "summary": sum})
			}
			if asJSON {
				list := []jsonRun{}
				for _, r := range runs {
					list = append(list, toJSON(r, false))
				}
				return writeJSON(g, map[string]any{"format_version": historyFormat, "site": site.ID, "runs": list})
			}
			if len(runs) == 0 {
				fmt.Fprintf(g.stdout, "No applies recorded for the site %s.\n", site.ID)
				return nil
			}
			// The shard and label columns only when a listed run has one.
			sharded := slices.ContainsFunc(runs, func(r backend.Run) bool { return r.Shard != "" || r.Label != "" })
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			head := "RUN\tSTARTED\tBY\tCOMMIT\t"
			if sharded {
				head += "SHARD\tLABEL\t"
			}
			fmt.Fprintln(tw, head+"OUTCOME\tHOSTS")
			for _, r := range runs {
				fmt.Fprintf(tw, "%d\t%s\t%s@%s\t%s\t", r.ID, r.Started.Local().Format("2006-01-02 15:04:05"),
					r.User, r.Machine, shortCommit(r))
				if sharded {
					fmt.Fprintf(tw, "%s\t%s\t", dash(r.Shard), dash(r.Label))
				}
				fmt.Fprintf(tw, "%s\t%s\n", outcomeText(r.Outcome), hostCounts(r.Hosts))
			}
			return tw.Flush()
		},
	}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "write JSON (see docs/backends.md)")
	cmd.PersistentFlags().StringVar(&g.state.backend, "backend", "", "where the run history lives: a postgres:// URL (default $PINERY_BACKEND, else SITE/.pinery/state.db)")
	cmd.Flags().IntVarP(&last, "number", "n", 20, "list this many runs, the most recent")
	cmd.Flags().StringVar(&label, "label", "", "list the runs of this label (the shards of one CI run) and sum them up")
	cmd.Flags().IntVar(&shards, "shards", 0, "with --label: the run had this many shards; name those missing (default: the recorded shards' N)")

	show := &cobra.Command{
		Use:   "show ID [SITE]",
		Short: "Show one recorded apply, host by host",
		Long: `show prints one run of the history: who, when, from which commit, the command
line, how it ended, and for each host its outcome and each resource that
changed, failed or was skipped, with the error messages apply printed.`,
		Example: `  pinery history show 12 site/
  pinery history show 12 --json site/`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not a run number (pinery history lists them)", args[0])
			}
			ctx, stop := signalContext()
			defer stop()
			b, _, err := g.openState(ctx, siteArg(args[1:]), false)
			if errors.Is(err, backend.ErrNoState) {
				return fmt.Errorf("run %d: no applies recorded for this site", id)
			}
			if err != nil {
				return err
			}
			defer b.Close()
			r, err := b.Run(ctx, id)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(g, toJSON(r, true))
			}
			writeRun(g, r)
			return nil
		},
	}
	cmd.AddCommand(show)
	return cmd
}

func writeRun(g *globals, r backend.Run) {
	w := g.stdout
	fmt.Fprintf(w, "Run %d of %s: %s\n", r.ID, r.Site, outcomeText(r.Outcome))
	fmt.Fprintf(w, "  by       %s@%s, pinery %s\n", r.User, r.Machine, r.Version)
	if r.Commit != "" {
		dirty := ""
		if r.Dirty {
			dirty = " with uncommitted changes"
		}
		fmt.Fprintf(w, "  commit   %s%s\n", r.Commit, dirty)
	}
	fmt.Fprintf(w, "  command  %s\n", r.Command)
	if r.Shard != "" {
		fmt.Fprintf(w, "  shard    %s\n", r.Shard)
	}
	if r.Label != "" {
		fmt.Fprintf(w, "  label    %s\n", r.Label)
	}
	took := "unfinished"
	if !r.Ended.IsZero() {
		took = fmt.Sprintf("took %.1fs", r.Ended.Sub(r.Started).Seconds())
	}
	fmt.Fprintf(w, "  started  %s, %s\n", r.Started.Local().Format(time.RFC3339), took)
	for _, h := range r.Hosts {
		line := fmt.Sprintf("%s: %s", h.Host, outcomeText(h.Outcome))
		if h.Changed+h.Failed+h.Skipped > 0 {
			line += fmt.Sprintf(", %d changed, %d failed, %d skipped", h.Changed, h.Failed, h.Skipped)
		}
		if h.Error != "" {
			line += ": " + h.Error
		}
		fmt.Fprintln(w, strings.ReplaceAll(line, "\n", "\n    "))
		for _, c := range h.Changes {
			line := fmt.Sprintf("  %s %s (%s)", c.Address, c.Status, c.Action)
			for _, s := range []string{c.Note, c.Error} {
				if s != "" {
					line += ": " + s
				}
			}
			fmt.Fprintln(w, strings.ReplaceAll(line, "\n", "\n    "))
		}
	}
}

// jsonRun is a run in history --json (docs/backends.md).
type jsonRun struct {
	ID      int64      `json:"id"`
	Site    string     `json:"site"`
	User    string     `json:"user"`
	Machine string     `json:"machine"`
	Version string     `json:"version"`
	Commit  string     `json:"commit"`
	Dirty   bool       `json:"dirty"`
	Command string     `json:"command"`
	Shard   string     `json:"shard"` // "I/N"; "": the whole site
	Label   string     `json:"label"`
	Started time.Time  `json:"started"`
	Ended   *time.Time `json:"ended"`
	Outcome string     `json:"outcome"`
	Hosts   []jsonHost `json:"hosts"`
}

type jsonHost struct {
	Host      string              `json:"host"`
	Outcome   string              `json:"outcome"`
	Changed   int                 `json:"changed"`
	Failed    int                 `json:"failed"`
	Skipped   int                 `json:"skipped"`
	Error     string              `json:"error,omitempty"`
	Resources *[]backend.Resource `json:"resources,omitempty"` // show only
}

func toJSON(r backend.Run, detail bool) jsonRun {
	j := jsonRun{ID: r.ID, Site: r.Site, User: r.User, Machine: r.Machine, Version: r.Version, Commit: r.Commit, Dirty: r.Dirty,
		Command: r.Command, Shard: r.Shard, Label: r.Label, Started: r.Started.UTC(), Outcome: outcomeText(r.Outcome), Hosts: []jsonHost{}}
	if !r.Ended.IsZero() {
		e := r.Ended.UTC()
		j.Ended = &e
	}
	for _, h := range r.Hosts {
		jh := jsonHost{Host: h.Host, Outcome: outcomeText(h.Outcome), Changed: h.Changed, Failed: h.Failed, Skipped: h.Skipped, Error: h.Error}
		if detail {
			res := h.Changes
			if res == nil {
				res = []backend.Resource{}
			}
			jh.Resources = &res
		}
		j.Hosts = append(j.Hosts, jh)
	}
	return j
}

// historyFormat is history --json's format_version (docs/backends.md):
// 1.1 added shard, label and --label's summary.
const historyFormat = "1.1"

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func outcomeText(o backend.Outcome) string {
	if o == backend.Unfinished {
		return "unfinished"
	}
	return string(o)
}

func shortCommit(r backend.Run) string {
	c := r.Commit
	if c == "" {
		return "-"
	}
	if len(c) > 10 {
		c = c[:10]
	}
	if r.Dirty {
		c += "-dirty"
	}
	return c
}

// hostCounts sums up a run's hosts: "3 hosts, 2 changed, 1 failed".
func hostCounts(hosts []backend.Host) string {
	changed, failed := 0, 0
	for _, h := range hosts {
		if h.Changed > 0 {
			changed++
		}
		if h.Outcome == backend.Failed || h.Outcome == backend.NotApplied {
			failed++
		}
	}
	s := plural(len(hosts), "host", "hosts") + fmt.Sprintf(", %d changed", changed)
	if failed > 0 {
		s += fmt.Sprintf(", %d failed", failed)
	}
	return strings.TrimSpace(s)
}
