package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pinery/pinery/inventory"
)

// Health is a check every host of a batch must pass, once applied, before
// the next batch starts: an HTTP status or an open TCP port seen from the
// controller, or a command that exits 0 on the host. In HTTP, TCP and
// Command, {host} stands for the host's name and {address} for its address.
type Health struct {
	HTTP     string        // a URL; passes on Status (or any 2xx when 0)
	Status   int           // the HTTP status wanted; 0: any 2xx
	TCP      string        // "PORT" (on the host's address) or "ADDRESS:PORT"
	Command  string        // run with sh on the host
	Timeout  time.Duration // how long the check may take to pass; 0: DefaultHealthTimeout
	Interval time.Duration // between attempts; 0: 2s
}

// DefaultHealthTimeout bounds a health check that sets none.
const DefaultHealthTimeout = 60 * time.Second

// ErrUnhealthy is the class of a host that failed its health checks.
var ErrUnhealthy = errors.New("health check failed")

func (c Health) String() string {
	switch {
	case c.HTTP != "":
		return "http " + c.HTTP
	case c.TCP != "":
		return "tcp " + c.TCP
	}
	return "command " + c.Command
}

// Validate says what is wrong with a check as written.
func (c Health) Validate() error {
	n := 0
	for _, s := range []string{c.HTTP, c.TCP, c.Command} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("a health check sets exactly one of http, tcp or command")
	}
	if c.HTTP != "" && !strings.HasPrefix(c.HTTP, "http://") && !strings.HasPrefix(c.HTTP, "https://") {
		return fmt.Errorf("health http %q is not an http:// or https:// URL", c.HTTP)
	}
	if c.Status != 0 && (c.Status < 100 || c.Status > 599) {
		return fmt.Errorf("health status %d is not an HTTP status", c.Status)
	}
	if c.Timeout < 0 || c.Interval < 0 {
		return errors.New("health timeout and interval must not be negative")
	}
	return nil
}

// expand puts the host's name and address into a check's strings.
func (c Health) expand(h *inventory.Host) Health {
	r := strings.NewReplacer("{host}", h.Name, "{address}", h.Address)
	c.HTTP, c.TCP, c.Command = r.Replace(c.HTTP), r.Replace(c.TCP), r.Replace(c.Command)
	if c.TCP != "" && !strings.Contains(c.TCP, ":") {
		c.TCP = net.JoinHostPort(h.Address, c.TCP)
	}
	return c
}

// healthGate runs the rollout's health checks on the hosts of a batch that
// applied cleanly, side by side; a host that does not pass them in time is
// failed with the check that did not pass and what it saw last.
func (r *Run) healthGate(ctx context.Context, ro Rollout, idx []int, res []HostResult) {
	if len(ro.Health) == 0 {
		return
	}
	var wg sync.WaitGroup
	for j, i := range idx {
		if res[j].Err != nil || res[j].Failed > 0 {
			continue
		}
		h := r.hosts[i]
		wg.Go(func() {
			for _, c := range ro.Health {
				c = c.expand(h.inv)
				took, err := h.waitHealthy(ctx, c)
				if err != nil {
					res[j].Err = fmt.Errorf("%w: %s did not pass within %s: %v", ErrUnhealthy, c, c.timeout(), err)
					if ro.OnHealth != nil {
						ro.OnHealth(h.inv.Name, fmt.Sprintf("health: %s failed (%v)", c, err))
					}
					return
				}
				if ro.OnHealth != nil {
					ro.OnHealth(h.inv.Name, fmt.Sprintf("health: %s passed after %s", c, took.Round(100*time.Millisecond)))
				}
			}
		})
	}
	wg.Wait()
}

func (c Health) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultHealthTimeout
}

// waitHealthy tries the check until it passes or its timeout passes; the
// last failure's reason on timeout.
func (h *hostRun) waitHealthy(ctx context.Context, c Health) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	every := c.Interval
	if every <= 0 {
		every = 2 * time.Second
	}
	for {
		err := h.tryHealth(ctx, c)
		if err == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), err
		case <-time.After(every):
		}
	}
}

// tryHealth makes one attempt, each bounded to 10 s.
func (h *hostRun) tryHealth(ctx context.Context, c Health) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch {
	case c.HTTP != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HTTP, nil)
		if err != nil {
			return err
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if c.Status != 0 && resp.StatusCode != c.Status || c.Status == 0 && resp.StatusCode/100 != 2 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	case c.TCP != "":
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.TCP)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	if h.conn == nil {
		return errors.New("no connection to the host")
	}
	res, err := h.conn.Run(ctx, c.Command, nil)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("exit status %d%s", res.ExitCode, tail(string(res.Stderr)+string(res.Stdout)))
	}
	return nil
}

// ParseHealth reads the command line's form of a check: http:URL,
// tcp:PORT or tcp:ADDRESS:PORT, cmd:COMMAND; an HTTP status may follow the
// URL after a space: "http:http://{address}:8008/health 200".
func ParseHealth(s string) (Health, error) {
	kind, rest, ok := strings.Cut(s, ":")
	var c Health
	switch {
	case !ok:
	case kind == "http":
		url, status, _ := strings.Cut(rest, " ")
		c.HTTP = url
		if status != "" {
			n, err := strconv.Atoi(status)
			if err != nil {
				return c, fmt.Errorf("%q: the status after the URL must be a number", s)
			}
			c.Status = n
		}
	case kind == "tcp":
		c.TCP = rest
	case kind == "cmd":
		c.Command = rest
	}
	if c == (Health{}) {
		return c, fmt.Errorf("%q is not http:URL, tcp:PORT or cmd:COMMAND", s)
	}
	return c, c.Validate()
}
