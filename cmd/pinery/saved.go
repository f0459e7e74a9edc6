package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/plan"
)

// savePlan writes the plan for `plan --out`, with how it was made.
func (g *globals) savePlan(path, site string, r *engine.Run, p *plan.Plan) error {
	s, err := plan.NewSaved(p, version)
	if err != nil {
		return err
	}
	s.Site, s.Inventory, s.Limit, s.Shard, s.VarFiles = site, g.inventory, g.limit, g.shard, g.varFiles
	sensitive := map[string]bool{}
	for _, v := range r.Site.Variables {
		sensitive[v.Name] = v.Sensitive
	}
	for _, kv := range g.vars {
		k, v, _ := strings.Cut(kv, "=")
		if sensitive[k] {
			s.SensitiveVars = append(s.SensitiveVars, k)
			continue
		}
		if s.Vars == nil {
			s.Vars = map[string]string{}
		}
		s.Vars[k] = v
	}
	if err := s.Write(path); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	fmt.Fprintf(g.stderr, "Saved the plan to %s. Apply exactly this plan with: pinery apply %s\n", path, path)
	return nil
}

// applySaved applies a saved plan: the same site, inventory, limit and
// variables; each host read again and refused if it drifted.
func (g *globals) applySaved(cmd *cobra.Command, path string) error {
	s, err := plan.ReadSaved(path)
	if err != nil {
		return err
	}
	if s.Applied != nil {
		return fmt.Errorf("the plan %s was already applied (%s); make a new plan", path, s.Applied.Format(time.RFC3339))
	}
	for _, name := range []string{"inventory", "limit", "var-file"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("a saved plan carries its inventory, limit and variables: drop --%s (or make a new plan)", name)
		}
	}
	// Only the sensitive variables, which the file does not hold, may be
	// given again.
	vars := []string{}
	for k, v := range s.Vars {
		vars = append(vars, k+"="+v)
	}
	for _, kv := range g.vars {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(s.SensitiveVars, k) {
			return fmt.Errorf("--var %s: a saved plan carries its variables; only its sensitive ones (%s) are given again", k, strings.Join(s.SensitiveVars, ", "))
		}
		vars = append(vars, kv)
	}
	g.inventory, g.limit, g.shard, g.varFiles, g.vars = s.Inventory, s.Limit, s.Shard, s.VarFiles, vars
	g.site = s.Site // a halted rollout is recorded there, for --resume

	r, ok := g.prepare([]string{s.Site})
	if !ok {
		return exitError{1}
	}
	defer r.Close()
	defer g.printStats(r)
	ctx, stop := signalContext()
	defer stop()
	start := time.Now()
	p, diags := r.Plan(ctx)
	if err := g.interruptedBeforeApply(ctx); err != nil {
		return err
	}
	if g.writeDiags(diags, r.Site.Parser) {
		return exitError{1}
	}
	refused := 0
	for _, h := range p.Hosts {
		if err := s.Check(h); err != nil {
			r.Refuse(h.Host, err)
			if g.jsonEvents {
				_ = g.emit(map[string]any{"type": "refused", "host": h.Host, "error": err.Error()})
			} else {
				fmt.Fprintf(g.stdout, "%s: refused: %v\n", h.Host, err)
			}
			refused++
		}
	}
	if !g.jsonEvents {
		fmt.Fprintf(g.stdout, "Applying the saved plan %s (made %s): %d of %d host(s) unchanged since.\n",
			path, s.Created.Format(time.RFC3339), len(p.Hosts)-refused, len(p.Hosts))
	}
	if err := s.MarkApplied(path); err != nil {
		return fmt.Errorf("marking the plan applied: %w", err)
	}
	return g.runApply(ctx, r, p, start)
}
