// Package fleettest connects tests to the real test fleet (.ci/fleet.sh,
// docs/test-fleet.md), so that a module is tested on real Debian boards with
// real apt and systemd, not on the controller machine and not on fakes.
//
// Without a fleet (PINERY_FLEET unset) such tests are skipped, saying so;
// `make test` sets PINERY_E2E=1, under which a missing fleet is a failure.
package fleettest

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// Dir returns the fleet directory (inventory.hcl, known_hosts, key), or
// skips the test when there is no fleet and none is required.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PINERY_FLEET")
	if dir == "" {
		if os.Getenv("PINERY_E2E") == "1" {
			t.Fatal("PINERY_E2E=1 but PINERY_FLEET is not set: run make test")
		}
		t.Skip("no test fleet (PINERY_FLEET unset); make test runs these")
	}
	if _, err := os.Stat(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatalf("PINERY_FLEET=%s has no inventory.hcl: %v", dir, err)
	}
	return dir
}

// Lock holds the fleet for this test alone until it ends. Tests of several
// packages run at once and share the hosts (and their apt and dpkg locks),
// so every test that changes a host holds this lock; the CLI's end-to-end
// scripts do too.
func Lock(t testing.TB) {
	t.Helper()
	release, err := hold(filepath.Join(Dir(t), "tests.lock"), 0o644)
	if err != nil {
		t.Fatalf("fleet lock: %v", err)
	}
	t.Cleanup(release)
}

// Host returns the inventory entry of a fleet host ("h1" .. "h4": h1-h3
// are amd64, h4 is arm64 under qemu-user).
func Host(t testing.TB, name string) *inventory.Host {
	t.Helper()
	inv, diags := inventory.Load(filepath.Join(Dir(t), "inventory.hcl"))
	if diags.HasErrors() {
		t.Fatalf("fleet inventory: %s", diags.Error())
	}
	h, ok := inv.Host(name)
	if !ok {
		t.Fatalf("fleet has no host %q", name)
	}
	return h
}

// Dial locks the fleet and connects to a fleet host as root; the
// connection closes when the test ends.
func Dial(t testing.TB, name string) transport.Host {
	t.Helper()
	h := Host(t, name)
	Lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := transport.DialSSH(ctx, transport.SSHConfig{
		Address:        h.Address,
		Port:           h.Port,
		User:           h.User,
		IdentityFile:   h.IdentityFile,
		KnownHosts:     h.KnownHosts,
		ConnectTimeout: h.ConnectTimeout,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// LocalHostLock holds, until the test ends, this machine as a host: tests
// of several packages that apply a site to the local machine (a host with
// connection = "local", or the local transport) would otherwise meet on
// its one host lock (/var/lib/pinery/lock) and refuse each other.
func LocalHostLock(t testing.TB) {
	t.Helper()
	release, err := HoldLocalHost()
	if err != nil {
		t.Fatalf("local host lock: %v", err)
	}
	t.Cleanup(release)
}

// HoldLocalHost is LocalHostLock for a TestMain: it returns once this
// machine is held, and release gives it back.
func HoldLocalHost() (release func(), err error) {
	return hold(filepath.Join(os.TempDir(), "pinery-local-host.lock"), 0o666)
}

// hold takes an exclusive flock on path (made with perm if missing),
// waiting for it.
func hold(path string, perm os.FileMode) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, perm)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
