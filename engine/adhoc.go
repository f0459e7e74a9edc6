package engine

import (
	"context"

	"github.com/sourcegraph/conc/pool"

	"github.com/pinery/pinery/inventory"
)

// CommandResult is one host's outcome of an ad-hoc command.
type CommandResult struct {
	Host     string
	Stdout   []byte
	Stderr   []byte
	ExitCode int
	Err      error // the host could not be reached or the session failed
}

// RunCommand runs one shell command on every host, in parallel (Salt's
// cmd.run, Ansible's -a), one connection and one session per host. Results
// are in host order.
func RunCommand(ctx context.Context, hosts []*inventory.Host, cmd string, parallelism int, dial Dialer) []CommandResult {
	if dial == nil {
		dial = Dial
	}
	if parallelism <= 0 {
		parallelism = DefaultParallelism
	}
	out := make([]CommandResult, len(hosts))
	p := pool.New().WithMaxGoroutines(parallelism)
	for i, h := range hosts {
		p.Go(func() {
			out[i].Host = h.Name
			conn, err := dial(ctx, h)
			if err != nil {
				out[i].Err = err
				return
			}
			defer conn.Close()
			res, err := conn.Run(ctx, cmd, nil)
			out[i].Stdout, out[i].Stderr, out[i].ExitCode, out[i].Err = res.Stdout, res.Stderr, res.ExitCode, err
		})
	}
	p.Wait()
	return out
}
