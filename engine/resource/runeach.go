package resource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// RunEach runs several scripts in one session, each in its own subshell,
// and returns one Result per script: its exit status and its messages
// (stdout and stderr together; an Aggregator's scripts print nothing
// else). A script that never ran (the session ended early) gets the
// session's own status and messages. stdin is shared, in order: a script
// that reads it must read exactly its own bytes, even when it fails.
func RunEach(ctx context.Context, h Runner, scripts []string, stdin io.Reader) ([]Result, error) {
	var b strings.Builder
	for i, s := range scripts {
		fmt.Fprintf(&b, "(\n%s\n) 2>&1\necho \"--pinery-each %d $?\"\n", s, i)
	}
	res, err := h.Run(ctx, b.String(), stdin)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(scripts))
	done := make([]bool, len(scripts))
	var msgs []byte
	for _, line := range bytes.SplitAfter(res.Stdout, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("--pinery-each "))
		if !ok {
			msgs = append(msgs, line...)
			continue
		}
		var i, rc int
		if _, err := fmt.Sscanf(string(rest), "%d %d", &i, &rc); err != nil || i < 0 || i >= len(scripts) || done[i] {
			return nil, fmt.Errorf("malformed status line %q", line)
		}
		out[i], done[i], msgs = Result{Stderr: msgs, ExitCode: rc}, true, nil
	}
	for i := range out {
		if !done[i] {
			out[i] = Result{Stderr: append(msgs, res.Stderr...), ExitCode: max(res.ExitCode, 1)}
		}
	}
	return out, nil
}

// ErrorsOrNil returns errs, or nil when none is set.
func ErrorsOrNil(errs Errors) error {
	for _, err := range errs {
		if err != nil {
			return errs
		}
	}
	return nil
}
