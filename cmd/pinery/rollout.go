package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/atomicfile"
)

// Exit codes of apply (docs/cli.md).
const (
	exitFailed     = 3 // resources failed on some hosts
	exitNotApplied = 4 // some hosts not applied: unreachable, refused, locked
	exitHalted     = 5 // a rollout halted: some hosts untouched
)

func exitIf(code int) error {
	if code == 0 {
		return nil
	}
	return exitError{code}
}

// rolloutFlags are apply's rollout options as given.
type rolloutFlags struct {
	batch, maxFailures, domain string
	pause                      time.Duration
	resume                     bool
	powerCycles                int
	health                     []string
	healthTimeout              time.Duration
	drain, undrain, drainVia   string
}

func addRolloutFlags(cmd *cobra.Command, g *globals) {
	f := cmd.Flags()
	f.StringVar(&g.rollout.batch, "batch", "", "apply this many hosts at a time (a number or a percentage: 2, 25%)")
	f.StringVar(&g.rollout.maxFailures, "max-failures", "0", "with --batch: failed or unreachable hosts tolerated before the rollout halts (a number or a percentage)")
	f.StringVar(&g.rollout.domain, "failure-domain", "", "with --batch: the inventory host variable, else the fact, naming a host's failure domain (a batch never spans two)")
	f.DurationVar(&g.rollout.pause, "pause", 0, "with --batch: wait this long between batches (30s, 2m)")
	f.StringArrayVar(&g.rollout.health, "health", nil, "a check every host of a batch must pass once applied before the next batch starts: http:URL [STATUS], tcp:PORT, cmd:COMMAND ({host}, {address} are replaced; repeatable)")
	f.DurationVar(&g.rollout.healthTimeout, "health-timeout", engine.DefaultHealthTimeout, "how long each --health check may take to pass")
	f.IntVar(&g.rollout.powerCycles, "power-cycle", 0, "power-cycle a host that stopped answering (unreachable, or past --host-timeout) up to this many times, through its inventory power block, then plan and apply it again")
	f.StringVar(&g.rollout.drain, "drain", "", "a command taking each host out of service elsewhere before it is applied (with --undrain; {host}, {address} are replaced): pinery-front drain {address}")
	f.StringVar(&g.rollout.undrain, "undrain", "", "the command putting a drained host back in service once it applied cleanly and passed --health (a host that failed stays drained)")
	f.StringVar(&g.rollout.drainVia, "drain-via", "", "the inventory host that runs --drain and --undrain (default: this machine)")
	f.BoolVar(&g.rollout.resume, "resume", false, "continue a halted rollout with the hosts it left untouched (from .pinery/rollout.json in the site)")
}

func (g *globals) rolloutSpec() (engine.Rollout, error) {
	spec := engine.RolloutSpec{Batch: g.rollout.batch, MaxFailures: g.rollout.maxFailures, Pause: g.rollout.pause,
		PowerCycles: g.rollout.powerCycles, DomainName: g.rollout.domain}
	if g.rollout.drain != "" || g.rollout.undrain != "" || g.rollout.drainVia != "" {
		spec.Drain = &engine.Drain{Via: g.rollout.drainVia, Command: g.rollout.drain, Undo: g.rollout.undrain}
	}
	for _, s := range g.rollout.health {
		c, err := engine.ParseHealth(s)
		if err != nil {
			return engine.Rollout{}, fmt.Errorf("--health: %v", err)
		}
		c.Timeout = g.rollout.healthTimeout
		spec.Health = append(spec.Health, c)
	}
	return spec.Rollout(func(f string) string { return "--" + strings.ReplaceAll(f, "_", "-") })
}

// rolloutState is what a halted rollout leaves for --resume.
type rolloutState struct {
	Site      string    `json:"site"`
	Halted    time.Time `json:"halted"`
	Reason    string    `json:"reason"`
	Applied   []string  `json:"applied"`
	Failed    []string  `json:"failed"`
	Untouched []string  `json:"untouched"`
}

func (g *globals) statePath() string { return filepath.Join(g.site, ".pinery", "rollout.json") }

// saveRolloutState records a halted rollout, or removes the record once a
// rollout finished.
func (g *globals) saveRolloutState(out engine.RolloutResult) error {
	if g.site == "" {
		return nil
	}
	if !out.Halted {
		if err := os.Remove(g.statePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	st := rolloutState{Site: g.site, Halted: time.Now().UTC(), Reason: out.Reason,
		Applied: hostsWith(out, engine.OutcomeApplied), Failed: hostsWith(out, engine.OutcomeFailed), Untouched: hostsWith(out, engine.OutcomeUntouched)}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.MkdirAll(filepath.Dir(g.statePath()), 0o755); err != nil {
		return fmt.Errorf("recording the halted rollout: %w", err)
	}
	return atomicfile.Write(g.statePath(), append(b, '\n'), 0o644)
}

// resumeLimit turns --resume into a limit: the hosts the halted rollout
// left untouched (the failed ones wait for a person; apply them by name).
func (g *globals) resumeLimit() error {
	b, err := os.ReadFile(g.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--resume: no halted rollout recorded in %s", g.statePath())
	}
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	var st rolloutState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("--resume: %s is damaged: %v", g.statePath(), err)
	}
	if g.limit != "" {
		return fmt.Errorf("--resume takes the hosts from %s: drop --limit", g.statePath())
	}
	g.limit = strings.Join(st.Untouched, ",")
	fmt.Fprintf(g.stdout, "Resuming the rollout halted at %s (%s): %s untouched; not retrying the failed: %s.\n\n",
		st.Halted.Format(time.RFC3339), st.Reason, list(st.Untouched), list(st.Failed))
	return nil
}

func hostsWith(out engine.RolloutResult, o engine.HostOutcome) []string {
	hs := []string{}
	for i, r := range out.Results {
		if out.Outcomes[i] == o {
			hs = append(hs, r.Host)
		}
	}
	return hs
}

func list(hs []string) string {
	if len(hs) == 0 {
		return "none"
	}
	return strings.Join(hs, ", ")
}
