package transport_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/transport/fleettest"
)

// A command ended by its context (a timeout, an interrupt) is ended on the
// host with everything it started, not left running after its session
// closes; and the wrapper's bookkeeping never shows in a command's stderr.
func TestFleetInterruptKillsRemoteCommand(t *testing.T) {
	h := fleettest.Dial(t, "h1")
	tag := "pinery-interrupt-" + time.Now().Format("150405.000000")
	run := func(cmd string) string {
		t.Helper()
		res, err := h.Run(context.Background(), cmd, nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(res.Stdout)
	}
	t.Cleanup(func() { run("rm -f /tmp/" + tag + "; pkill -f " + tag + " || :") })

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	// A child that outlives its parent shell, as a hung build or apt would.
	_, err := h.Run(ctx, "sh -c 'sleep 30; touch /tmp/"+tag+"' & sleep 60 # "+tag, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the interrupted command took %v to end", d)
	}
	time.Sleep(300 * time.Millisecond)
	if left := run("pgrep -af 'sleep (30|60)' | grep -v pgrep || :"); strings.TrimSpace(left) != "" {
		t.Fatalf("processes left running on the host:\n%s", left)
	}

	res, err := h.Run(context.Background(), "echo out; echo err >&2; exit 3", nil)
	if err != nil || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		t.Fatalf("plain command: %+v %v", res, err)
	}
}
