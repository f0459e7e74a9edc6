package engine_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine"
)

func TestParseHealth(t *testing.T) {
	for in, want := range map[string]string{
		"http:http://{address}:8008/health":     "http http://{address}:8008/health",
		"http:https://x/health 204":             "http https://x/health",
		"tcp:5432":                              "tcp 5432",
		"cmd:systemctl is-active --quiet nginx": "command systemctl is-active --quiet nginx",
		"http:ftp://x":                          "error",
		"http:http://x abc":                     "error",
		"udp:53":                                "error",
		"5432":                                  "error",
	} {
		c, err := engine.ParseHealth(in)
		got := c.String()
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// A host that fails its health check after applying fails, and the
// rollout halts before the next batch at the failure budget.
func TestHealthGatesTheNextBatch(t *testing.T) {
	r := rolloutRun(t, "")
	var lines []string
	res := r.ApplyRollout(context.Background(), engine.Rollout{
		Batch:    engine.Amount{N: 2},
		Health:   []engine.Health{{Command: `test {host} != b3 || { echo "b3 is sick" >&2; exit 1; }`, Timeout: 2 * time.Second, Interval: 500 * time.Millisecond}},
		OnHealth: func(host, line string) { lines = append(lines, host+": "+line) },
	}, nil, nil)
	if got, want := outcomes(res), "b1:applied b2:applied b3:failed b4:applied b5:untouched b6:untouched"; got != want {
		t.Errorf("outcomes %s\nwant     %s", got, want)
	}
	if err := res.Results[2].Err; !errors.Is(err, engine.ErrUnhealthy) || !strings.Contains(err.Error(), "b3 is sick") {
		t.Errorf("b3: %v", err)
	}
	if !res.Halted {
		t.Error("did not halt")
	}
	if len(lines) != 4 || !strings.Contains(strings.Join(lines, "\n"), "b3: health: command test b3 != b3") {
		t.Errorf("health lines %q", lines)
	}
}

// HTTP and TCP checks run from the controller against the host's address.
func TestHealthHTTPAndTCP(t *testing.T) {
	up := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !up {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	checks := []engine.Health{
		{HTTP: "http://{address}:" + port + "/health", Timeout: time.Second},
		{TCP: port, Timeout: time.Second},
	}
	// One host at a time: the "hosts" are all this machine, with one lock.
	one := engine.Rollout{Batch: engine.Amount{N: 1}, MaxFailures: engine.Amount{N: 6}}
	r := rolloutRun(t, "")
	ro := one
	ro.Health = checks
	res := r.ApplyRollout(context.Background(), ro, nil, nil)
	for i, o := range res.Outcomes {
		if o != engine.OutcomeApplied {
			t.Errorf("%s: %s %v", res.Results[i].Host, o, res.Results[i].Err)
		}
	}
	up = false
	r = rolloutRun(t, "")
	ro = one
	ro.Health = checks[:1]
	res = r.ApplyRollout(context.Background(), ro, nil, nil)
	if err := res.Results[0].Err; err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("unhealthy host: %v", err)
	}
}
