package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
)

func newRunCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run SELECTOR -- COMMAND...",
		Short: "Run a shell command on hosts, ad hoc",
		Long: `run runs one shell command on the selected hosts (a host name, a group or any
--limit selector), in parallel, one SSH connection each (as root through sudo
when the login user is not), and prints each host's output together, in
inventory order. For looking around and one-off fixes; anything that should
stay done belongs in the site.`,
		Example: `  pinery run -i inventory.hcl sopines -- uptime
  pinery run -i inventory.hcl 'rockpro64,!rp07' -- 'df -h / | tail -1'`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return fmt.Errorf("give the selector, then -- and the command: pinery run web -- uptime")
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
			results := engine.RunCommand(ctx, hosts, strings.Join(args[1:], " "), g.parallelism, dial)
			code := 0
			for _, r := range results {
				switch {
				case r.Err != nil:
					code = max(code, exitNotApplied)
				case r.ExitCode != 0:
					code = max(code, exitFailed)
				}
			}
			if asJSON {
				var out []map[string]any
				for _, r := range results {
					m := map[string]any{"host": r.Host, "exit_code": r.ExitCode, "stdout": string(r.Stdout), "stderr": string(r.Stderr)}
					if r.Err != nil {
						m["error"] = r.Err.Error()
					}
					out = append(out, m)
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
				return exitIf(code)
			}
			st := g.style()
			for _, r := range results {
				switch {
				case r.Err != nil:
					fmt.Fprintf(g.stdout, "%s: %s\n", r.Host, paint(st.Remove, r.Err.Error()))
					continue
				case r.ExitCode != 0:
					fmt.Fprintf(g.stdout, "%s: %s\n", r.Host, paint(st.Remove, fmt.Sprintf("exit status %d", r.ExitCode)))
				default:
					fmt.Fprintf(g.stdout, "%s:\n", r.Host)
				}
				printIndented(g, r.Stdout, "")
				printIndented(g, r.Stderr, "stderr: ")
			}
			return exitIf(code)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the results as JSON")
	cmd.Flags().IntVar(&g.parallelism, "parallelism", 64, "hosts handled at once")
	return cmd
}

func printIndented(g *globals, b []byte, prefix string) {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return
	}
	for _, l := range strings.Split(s, "\n") {
		fmt.Fprintf(g.stdout, "  %s%s\n", prefix, l)
	}
}
