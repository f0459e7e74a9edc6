package engine_test

import (
	"os"
	"testing"

	"github.com/pinery/pinery/engine/transport/fleettest"
)

// TestMain holds this machine as a host for the whole package: these tests
// apply sites to it through the local transport, taking its host lock,
// while other packages' tests may too (see fleettest.LocalHostLock).
func TestMain(m *testing.M) {
	release, err := fleettest.HoldLocalHost()
	if err != nil {
		panic("local host lock: " + err.Error())
	}
	code := m.Run()
	release()
	os.Exit(code)
}
