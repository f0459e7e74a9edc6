package lat

import (
	"context"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/transport/fleettest"
)

func TestLat(t *testing.T) {
	h := fleettest.Dial(t, "h1")
	start := time.Now()
	for i := 0; i < 50; i++ {
		h.Run(context.Background(), "true", nil)
	}
	t.Logf("per session: %v", time.Since(start)/50)
}
