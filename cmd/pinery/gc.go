package main

import (
	"os"
	"runtime/debug"
)

// networkGCPercent is the garbage collector's GOGC once a run's site is
// loaded. Loading evaluates every host's resources: CPU-bound, and left
// to Go's default (100). What follows (connecting, probing, planning,
// applying) waits on the hosts far more than it computes, and the
// controller's peak memory is reached there, with every host's probe in
// flight: collecting at 1.5x the live heap instead of 2x costs that phase
// little CPU and lowers the peak (24 hosts x 100 resources: -1.2 MB,
// +4% CPU; 200 x 10: -1.5 MB, +10%; docs/performance.md, "Controller
// memory"). A GOGC in the environment is left as given.
const networkGCPercent = 50

// tightenGC applies networkGCPercent, unless GOGC is set.
func tightenGC() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(networkGCPercent)
}
