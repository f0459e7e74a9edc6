package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"sync/atomic"
	"syscall"

	"github.com/pinery/pinery/engine/resource"
)

// Local runs commands on this machine with sh. It serves tests and pull mode.
type Local struct {
	sessions atomic.Int64
}

// NewLocal returns a transport for the local machine.
func NewLocal() *Local { return &Local{} }

// Run runs cmd with sh -c. The whole process group is killed when ctx ends,
// so that no command is left running.
func (l *Local) Run(ctx context.Context, cmd string, stdin io.Reader) (resource.Result, error) {
	l.sessions.Add(1)
	c := exec.Command("sh", "-c", cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr, c.Stdin = &out, &errb, stdin
	if err := c.Start(); err != nil {
		return resource.Result{}, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
		return resource.Result{Stdout: out.Bytes(), Stderr: errb.Bytes(), ExitCode: -1}, ctx.Err()
	}
	res := resource.Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, nil
	}
	return res, err
}

// Sessions counts the commands run so far.
func (l *Local) Sessions() int { return int(l.sessions.Load()) }

// Close does nothing; there is no connection.
func (l *Local) Close() error { return nil }
