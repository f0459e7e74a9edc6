package engine

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

func TestDeadLocalHolder(t *testing.T) {
	me, _ := os.Hostname()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := gone.Process.Pid
	holder := func(run, machine string, pid int) string {
		return fmt.Sprintf("run=%s\nholder=root@%s pid %d\nsince=x\nexpires=y\n", run, machine, pid)
	}
	for name, tc := range map[string]struct {
		holder string
		want   bool
	}{
		"dead here":          {holder("abc", me, dead), true},
		"alive here":         {holder("abc", me, os.Getpid()), false},
		"other machine":      {holder("abc", me+"-other", dead), false},
		"this run":           {holder(runID, me, dead), false},
		"no pid":             {"run=abc\nholder=root@" + me + "\n", false},
		"garbage":            {"x", false},
		"init is alive here": {holder("abc", me, 1), false},
	} {
		t.Run(name, func(t *testing.T) {
			run, ok := deadLocalHolder(tc.holder)
			if ok != tc.want || ok && run != "abc" {
				t.Fatalf("%q: %q %v, want %v", tc.holder, run, ok, tc.want)
			}
		})
	}
}
