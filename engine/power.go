package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// Power actions.
const (
	PowerOn     = "on"
	PowerOff    = "off"
	PowerCycle  = "cycle"
	PowerStatus = "status"
)

// ErrNoPower is returned for a host whose inventory entry has no power block.
var ErrNoPower = errors.New("the inventory says nothing about how to power it (add a power block)")

// PowerControl runs hosts' out-of-band power commands (inventory power
// blocks): on the controller, or on the host named by via.
type PowerControl struct {
	Inventory *inventory.Inventory
	Dial      Dialer // nil: Dial
}

// Do runs one power action on h. For status, it reports whether the host
// is on (the status command exits 0, or 1 for off); the other actions
// report true once done. The output of the commands comes back in out.
func (pc PowerControl) Do(ctx context.Context, h *inventory.Host, action string) (on bool, out string, err error) {
	p := h.Power
	if p == nil {
		return false, "", fmt.Errorf("host %s: %w", h.Name, ErrNoPower)
	}
	run := func(what, cmd string) (int, error) {
		code, o, err := pc.run(ctx, p.Via, cmd)
		out += o
		if err != nil {
			return code, fmt.Errorf("host %s: power %s: %w", h.Name, what, err)
		}
		return code, nil
	}
	must := func(what, cmd string) error {
		code, err := run(what, cmd)
		if err == nil && code != 0 {
			err = fmt.Errorf("host %s: power %s: the command exited %d%s", h.Name, what, code, tail(out))
		}
		return err
	}
	switch action {
	case PowerOn:
		return true, out, must("on", p.On)
	case PowerOff:
		return false, out, must("off", p.Off)
	case PowerCycle:
		if p.Cycle != "" {
			return true, out, must("cycle", p.Cycle)
		}
		if err := must("off", p.Off); err != nil {
			return false, out, err
		}
		select {
		case <-time.After(p.Wait):
		case <-ctx.Done():
			return false, out, ctx.Err()
		}
		return true, out, must("on", p.On)
	case PowerStatus:
		if p.Status == "" {
			return false, out, fmt.Errorf("host %s: its power block has no status command", h.Name)
		}
		code, err := run("status", p.Status)
		switch {
		case err != nil:
			return false, out, err
		case code == 0 || code == 1:
			return code == 0, out, nil
		}
		return false, out, fmt.Errorf("host %s: power status: the command exited %d (0 means on, 1 off)%s", h.Name, code, tail(out))
	}
	return false, out, fmt.Errorf("unknown power action %q (on, off, cycle, status)", action)
}

// run runs a power command where the block says; its exit code and
// output, or an error when it could not be run at all.
func (pc PowerControl) run(ctx context.Context, via, cmd string) (int, string, error) {
	var conn transport.Host = transport.NewLocal()
	if via != "" {
		vh, ok := pc.Inventory.Host(via)
		if !ok {
			return 0, "", fmt.Errorf("power host %s is not in the inventory", via)
		}
		dial := pc.Dial
		if dial == nil {
			dial = Dial
		}
		c, err := dial(ctx, vh)
		if err != nil {
			return 0, "", fmt.Errorf("through %s: %w", via, err)
		}
		conn = c
	}
	defer conn.Close()
	res, err := conn.Run(ctx, cmd, nil)
	if err != nil {
		return 0, "", err
	}
	return res.ExitCode, string(res.Stdout) + string(res.Stderr), nil
}

// WaitForSSH dials h until it answers or timeout passes; how long that took.
func WaitForSSH(ctx context.Context, h *inventory.Host, dial Dialer, timeout time.Duration) (time.Duration, error) {
	if dial == nil {
		dial = Dial
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		c, err := dial(ctx, h)
		if err == nil {
			c.Close()
			return time.Since(start), nil
		}
		last = err
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("host %s did not answer SSH within %s: %w", h.Name, timeout, last)
		case <-time.After(time.Second):
		}
	}
}

// tail is the last line of a command's output, to quote in an error.
func tail(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ""
	}
	lines := strings.Split(out, "\n")
	return ": " + lines[len(lines)-1]
}

// stoppedAnswering reports whether a host's failure is one a power cycle
// may cure: it could not be reached, or it hung past --host-timeout.
func stoppedAnswering(err error) bool {
	return errors.Is(err, transport.ErrUnreachable) || errors.Is(err, ErrHostTimeout)
}

// canRecover reports whether a rollout may power-cycle host i.
func (r *Run) canRecover(ro Rollout, i int) bool {
	h := r.hosts[i]
	return ro.PowerCycles > 0 && h.inv.Power != nil && r.opts.Inventory != nil
}

// recover power-cycles host i after it stopped answering, waits for SSH,
// plans it again and applies the new plan (the nodes only accepts), at
// most ro.PowerCycles times. Each step is told to ro.OnPower.
func (r *Run) recover(ctx context.Context, ro Rollout, i int, res HostResult, only func(*eval.Node) bool, onEvent func(Event)) HostResult {
	h := r.hosts[i]
	say := func(format string, args ...any) {
		if ro.OnPower != nil {
			ro.OnPower(h.inv.Name, fmt.Sprintf(format, args...))
		}
	}
	pc := PowerControl{Inventory: r.opts.Inventory, Dial: r.opts.Dial}
	for k := 1; k <= ro.PowerCycles && stoppedAnswering(res.Err) && ctx.Err() == nil; k++ {
		say("stopped answering (%v); power cycle %d of %d", res.Err, k, ro.PowerCycles)
		if _, _, err := pc.Do(ctx, h.inv, PowerCycle); err != nil {
			res.Err = fmt.Errorf("%v; power cycle failed: %w", res.Err, err)
			return res
		}
		took, err := WaitForSSH(ctx, h.inv, r.opts.Dial, h.inv.Power.BootTimeout)
		if err != nil {
			res.Err = fmt.Errorf("power-cycled, but %w", err)
			say("%v", err)
			continue
		}
		say("answering SSH again after %s; planning it again", took.Round(100*time.Millisecond))
		r.replan(ctx, h, only)
		if h.plan.Error != nil {
			res = HostResult{Host: h.inv.Name, Err: h.plan.Error}
			continue
		}
		res = r.applyHosts(ctx, []int{i}, only, onEvent)[0]
	}
	return res
}

// replan connects to a host again and plans it afresh, after a power cycle
// or a reboot: its facts, its graph, its probe (planAgain). Nodes outside
// only that have nothing to do count as unchanged, so that what depends on
// an earlier stage's work is not held back by the new plan.
func (r *Run) replan(ctx context.Context, h *hostRun, only func(*eval.Node) bool) {
	if r.planAgain(ctx, h, true) != nil || h.diffs == nil || only == nil {
		return
	}
	h.status, h.refreshed = make([]Status, len(h.graph.Nodes)), make([]bool, len(h.graph.Nodes))
	for i, n := range h.graph.Nodes {
		if !only(n) && h.diffs[i] != nil && h.diffs[i].Empty() {
			h.status[i] = StatusUnchanged
		}
	}
}
