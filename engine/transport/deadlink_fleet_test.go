package transport_test

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// A link that dies under a connection (the host's veth taken down on the
// controller: packets vanish, nothing answers, TCP keeps retrying) does
// not hold a command past its context: a running command, and a session
// being opened, end within a short grace after ctx; the connection is
// then closed, so that later calls fail at once as unreachable instead of
// waiting for TCP to give up.
func TestFleetDeadLinkEndsWithContext(t *testing.T) {
	const link = "vf-h5"
	running := fleettest.Dial(t, "h5")
	opening := dialAs(t, "h5", "root", nil)
	ip := func(state string) error { return exec.Command("ip", "link", "set", link, state).Run() }
	// Back up by itself whatever happens to this test (others share h5).
	if err := exec.Command("sh", "-c", "(sleep 40; ip link set "+link+" up) >/dev/null 2>&1 &").Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ip("up"); err != nil {
			t.Errorf("link up: %v", err)
		}
		waitSSH(t, "h5")
	})

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	go func() {
		time.Sleep(time.Second)
		if err := ip("down"); err != nil {
			t.Errorf("link down (the test needs root on the controller): %v", err)
		}
	}()
	start := time.Now()
	_, err := running.Run(ctx, "sleep 30", nil)
	if d := time.Since(start); d > 7*time.Second {
		t.Errorf("a command on a dead link took %v to end (context: 4s)", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("running: %v, want the deadline", err)
	}
	start = time.Now()
	if _, err := running.Run(context.Background(), "true", nil); !errors.Is(err, transport.ErrUnreachable) || time.Since(start) > time.Second {
		t.Errorf("after: %v in %v, want unreachable at once", err, time.Since(start))
	}

	// A session opened on the dead link (the other connection).
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start = time.Now()
	_, err = opening.Run(ctx, "true", nil)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("opening a session on a dead link took %v (context: 2s)", d)
	}
	if !errors.Is(err, transport.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("opening: %v, want unreachable and the deadline", err)
	}
}

// waitSSH waits until a fleet host answers a fresh connection again.
func waitSSH(t *testing.T, name string) {
	t.Helper()
	h := fleettest.Host(t, name)
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := transport.DialSSH(ctx, transport.SSHConfig{
			Address: h.Address, Port: h.Port, User: h.User, IdentityFile: h.IdentityFile,
			KnownHosts: h.KnownHosts, ConnectTimeout: 3 * time.Second,
		})
		cancel()
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Errorf("%s did not answer again", name)
}
