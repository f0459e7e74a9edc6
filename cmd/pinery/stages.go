package main

import (
	"fmt"
	"strings"

	"github.com/pinery/pinery/engine"
)

// writeStages tells, after a plan's text, the order in which hosts that
// read other hosts' outputs and a staged site's stages will be applied;
// nothing when neither applies.
func (g *globals) writeStages(r *engine.Run) {
	ro, err := g.rolloutSpec()
	if err != nil {
		return // apply reports it
	}
	if levels := r.HostOrder(); levels != nil {
		fmt.Fprintln(g.stdout, "\nHosts, applied in this order (each after the hosts whose outputs it reads):")
		for i, l := range levels {
			reads := ""
			if len(l.Reads) > 0 {
				reads = " (reads " + strings.Join(l.Reads, ", ") + ")"
			}
			fmt.Fprintf(g.stdout, "  %d. %s%s\n", i+1, strings.Join(l.Hosts, ", "), reads)
		}
	}
	stages := r.Stages(ro)
	if len(stages) == 0 {
		return
	}
	fmt.Fprintln(g.stdout, "\nStages, applied in this order (a failed stage stops the later ones):")
	for i, s := range stages {
		how := ""
		if s.Rollout.Batch.N > 0 {
			unit := ""
			if s.Rollout.Batch.Percent {
				unit = "%"
			}
			how = fmt.Sprintf(" (batches of %d%s)", s.Rollout.Batch.N, unit)
		}
		hosts := strings.Join(s.Hosts, ", ")
		if hosts == "" {
			hosts = "no selected host"
		}
		fmt.Fprintf(g.stdout, "  %d. %s: %s%s\n", i+1, s.Name, hosts, how)
	}
}
