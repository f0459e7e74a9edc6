package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine"
)

// Each host is drained before its batch and put back once applied; a host
// that failed stays drained; a host whose drain fails is not applied.
func TestRolloutDrain(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	r := rolloutRun(t, "b2")
	var lines []string
	res := r.ApplyRollout(context.Background(), engine.Rollout{
		Batch:       engine.Amount{N: 1},
		MaxFailures: engine.Amount{N: 6},
		Drain: &engine.Drain{
			Command: "test {host} != b4 && echo drain {host} {address} >> " + log,
			Undo:    "echo undo {host} >> " + log,
		},
		OnDrain: func(host, line string) { lines = append(lines, host+": "+line) },
	}, nil, nil)
	if got, want := outcomes(res), "b1:applied b2:failed b3:applied b4:failed b5:applied b6:applied"; got != want {
		t.Errorf("outcomes %s\nwant     %s", got, want)
	}
	b, _ := os.ReadFile(log)
	want := "drain b1 localhost\nundo b1\ndrain b2 localhost\ndrain b3 localhost\nundo b3\ndrain b5 localhost\nundo b5\ndrain b6 localhost\nundo b6\n"
	if string(b) != want {
		t.Errorf("commands run:\n%s\nwant:\n%s", b, want)
	}
	if err := res.Results[3].Err; err == nil || !strings.Contains(err.Error(), "draining it failed") {
		t.Errorf("b4: %v", err)
	}
	text := strings.Join(lines, "\n")
	for _, w := range []string{"b1: drained: test b1 != b4", "b1: back in service: echo undo b1", "b2: left drained", "b4: draining failed: test b4 != b4"} {
		if !strings.Contains(text, w) {
			t.Errorf("reports lack %q:\n%s", w, text)
		}
	}
}

func TestRolloutSpecDrainNeedsUndo(t *testing.T) {
	_, err := engine.RolloutSpec{Drain: &engine.Drain{Command: "x"}}.Rollout(func(f string) string { return "--" + f })
	if err == nil || !strings.Contains(err.Error(), "--drain: a drain needs both") {
		t.Fatalf("got %v", err)
	}
}
