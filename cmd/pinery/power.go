package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/sourcegraph/conc/pool"
	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
)

func newPowerCmd(g *globals) *cobra.Command {
	var noWait bool
	var bootTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "power status|on|off|cycle SELECTOR",
		Short: "Switch hosts on, off or through a power cycle, out of band",
		Long: `power runs the commands of the selected hosts' inventory power blocks (a relay
or GPIO on another host, a smart PDU's API called from the controller), for a
board that hangs so hard that only its power brings it back. The selector is
required: a host name, a group or any --limit selector.

on and cycle then wait until each host answers SSH again (--no-wait: don't),
within the power block's boot_timeout (or --boot-timeout). status prints on or
off per host. The exit code is 0 when every action succeeded, 1 otherwise.`,
		Example: `  pinery power -i inventory.hcl status clusterboard1
  pinery power -i inventory.hcl cycle sopine3
  pinery power -i inventory.hcl off 'clusterboard1,!sopine0' && pinery power -i inventory.hcl on clusterboard1`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			action, sel := args[0], args[1]
			switch action {
			case engine.PowerOn, engine.PowerOff, engine.PowerCycle, engine.PowerStatus:
			default:
				return fmt.Errorf("unknown power action %q: use status, on, off or cycle", action)
			}
			g.limit = sel
			inv, hosts, diags := g.loadInventory()
			if g.writeDiags(diags) {
				return exitError{1}
			}
			dial, ok := g.dialer(hosts)
			if !ok {
				return exitError{1}
			}
			ctx, stop := signalContext()
			defer stop()
			pc := engine.PowerControl{Inventory: inv, Dial: dial}
			lines := make([]string, len(hosts))
			failed := make([]bool, len(hosts))
			p := pool.New().WithMaxGoroutines(engine.DefaultParallelism)
			for i, h := range hosts {
				p.Go(func() {
					on, out, err := pc.Do(ctx, h, action)
					switch {
					case err != nil:
						failed[i], lines[i] = true, fmt.Sprintf("%s: error: %v", h.Name, err)
						return
					case action == engine.PowerStatus && on:
						lines[i] = h.Name + ": on"
					case action == engine.PowerStatus:
						lines[i] = h.Name + ": off"
					default:
						lines[i] = fmt.Sprintf("%s: power %s done", h.Name, action)
					}
					if out = strings.TrimSpace(out); out != "" && action != engine.PowerStatus {
						lines[i] += "\n  " + strings.ReplaceAll(out, "\n", "\n  ")
					}
					if noWait || (action != engine.PowerOn && action != engine.PowerCycle) {
						return
					}
					limit := h.Power.BootTimeout
					if bootTimeout > 0 {
						limit = bootTimeout
					}
					took, err := engine.WaitForSSH(ctx, h, dial, limit)
					if err != nil {
						failed[i] = true
						lines[i] += fmt.Sprintf("\n%s: error: %v", h.Name, err)
						return
					}
					lines[i] += fmt.Sprintf("; answering SSH after %s", took.Round(100*time.Millisecond))
				})
			}
			p.Wait()
			code := 0
			for i, l := range lines {
				fmt.Fprintln(g.stdout, l)
				if failed[i] {
					code = 1
				}
			}
			return exitIf(code)
		},
	}
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "after on or cycle, do not wait for the hosts to answer SSH")
	cmd.Flags().DurationVar(&bootTimeout, "boot-timeout", 0, "how long a host may take to answer SSH after on or cycle (default: the power block's boot_timeout, else 3m)")
	return cmd
}
