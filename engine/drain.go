package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/inventory"
)

// Drain takes a host out of service elsewhere while a rollout applies it:
// Command runs before the host's batch, Undo once the host passed its
// health checks (a host that failed stays drained: nothing routes to a
// broken board). Both run on the inventory host Via (this machine when
// empty), one host at a time; {host} and {address} stand for the applied
// host's name and address. The front proxy role's pinery-front command is
// made for it.
type Drain struct{ Via, Command, Undo string }

func (d Drain) expand(cmd string, h *inventory.Host) string {
	return strings.NewReplacer("{host}", h.Name, "{address}", h.Address).Replace(cmd)
}

// drainBatch drains the batch's hosts that have something to apply and
// returns those to apply; a host that could not be drained is not applied
// (failed, with the reason).
func (r *Run) drainBatch(ctx context.Context, ro Rollout, idx []int, only func(*eval.Node) bool, out *RolloutResult, failed *int) []int {
	if ro.Drain == nil {
		return idx
	}
	keep := idx[:0:0]
	for _, i := range idx {
		h := r.hosts[i]
		if h.diffs == nil || !h.hasWork(only) {
			keep = append(keep, i) // nothing changes on it (or not planned): left in service
			continue
		}
		if err := r.runDrain(ctx, ro, h.inv, ro.Drain.Command, "drained", "draining failed"); err != nil {
			out.Results[i] = HostResult{Host: h.inv.Name, Err: fmt.Errorf("not applied: draining it failed: %w", err)}
			out.Outcomes[i] = OutcomeFailed
			r.markFailed(i)
			*failed++
			continue
		}
		h.drained = true
		keep = append(keep, i)
	}
	return keep
}

// undrainBatch puts back the drained hosts of a batch that applied cleanly
// and passed their health checks.
func (r *Run) undrainBatch(ctx context.Context, ro Rollout, idx []int, res []HostResult) {
	if ro.Drain == nil {
		return
	}
	for j, i := range idx {
		h := r.hosts[i]
		if !h.drained {
			continue
		}
		if res[j].Err != nil || res[j].Failed > 0 {
			if ro.OnDrain != nil {
				ro.OnDrain(h.inv.Name, "left drained: it did not apply cleanly or failed its health checks")
			}
			continue
		}
		if err := r.runDrain(ctx, ro, h.inv, ro.Drain.Undo, "back in service", "putting it back in service failed"); err != nil {
			res[j].Err = fmt.Errorf("applied, but putting it back in service failed: %w", err)
			continue
		}
		h.drained = false
	}
}

func (r *Run) runDrain(ctx context.Context, ro Rollout, h *inventory.Host, cmd, done, failing string) error {
	cmd = ro.Drain.expand(cmd, h)
	pc := PowerControl{Inventory: r.opts.Inventory, Dial: r.opts.Dial}
	if ro.Drain.Via != "" && pc.Inventory == nil {
		return fmt.Errorf("drain host %s: no inventory", ro.Drain.Via)
	}
	ctx, cancel := r.hostContext(ctx)
	defer cancel()
	rc, outText, err := pc.run(ctx, ro.Drain.Via, cmd)
	if err == nil && rc != 0 {
		err = fmt.Errorf("%s exited with status %d%s", cmd, rc, tail(outText))
	}
	if ro.OnDrain != nil {
		where := ""
		if ro.Drain.Via != "" {
			where = " (on " + ro.Drain.Via + ")"
		}
		switch {
		case err != nil:
			ro.OnDrain(h.Name, fmt.Sprintf("%s: %v", failing, err))
		default:
			ro.OnDrain(h.Name, fmt.Sprintf("%s%s: %s", done, where, cmd))
		}
	}
	return err
}
