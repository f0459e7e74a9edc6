// Package probe batches the read-only snippets of every resource of a host
// into one shell script, run in one session, and splits its output.
package probe

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/pinery/pinery/engine/resource"
)

// Script is a batched probe: one sh script and the boundary that frames
// each snippet's output.
type Script struct {
	Text     string
	boundary string
	n        int
}

// New builds the script for the given snippets (in order). A fresh random
// boundary per run means no file content on the host can forge a frame.
func New(snippets []string) *Script {
	var b [12]byte
	_, _ = rand.Read(b[:])
	bound := "--pinery-" + hex.EncodeToString(b[:])
	size := 128 + 2*len(bound)
	for _, s := range snippets {
		size += len(s) + 48 + len(bound)
	}
	var sb strings.Builder
	sb.Grow(size) // the whole script at once: it is held per host while in flight
	sb.WriteString("LC_ALL=C; export LC_ALL\n")
	fmt.Fprintf(&sb, "printf '%%s\\n' '%s start'\n", bound)
	for i, s := range snippets {
		// Each snippet runs in a subshell with no stdin: it cannot consume
		// the script, end it with exit, or leak variables to the next one.
		fmt.Fprintf(&sb, "(\n%s\n) </dev/null\nprintf '\\n%s %d %%d\\n' $?\n", s, bound, i)
	}
	fmt.Fprintf(&sb, "printf '%%s\\n' '%s end'\n", bound)
	return &Script{Text: sb.String(), boundary: bound, n: len(snippets)}
}

// Parse splits the script's stdout into one result per snippet. Anything
// printed before the start marker (a login banner) is ignored; a missing
// frame or a truncated stream is an error, never a partial result.
func (s *Script) Parse(out []byte) ([]resource.ProbeResult, error) {
	start := []byte(s.boundary + " start\n")
	i := bytes.Index(out, start)
	if i < 0 {
		return nil, fmt.Errorf("probe output has no start marker (%d bytes received): the host's shell printed something unexpected or failed", len(out))
	}
	out = out[i+len(start):]
	res := make([]resource.ProbeResult, 0, s.n)
	marker := []byte("\n" + s.boundary + " ")
	for k := 0; k < s.n; k++ {
		j := bytes.Index(out, marker)
		if j < 0 {
			return nil, fmt.Errorf("probe output truncated after %d of %d resources", k, s.n)
		}
		body := out[:j]
		rest := out[j+len(marker):]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("probe output truncated in the frame of resource %d", k)
		}
		rc, err := parseFrame(string(rest[:nl]), k)
		if err != nil {
			return nil, err
		}
		res = append(res, resource.ProbeResult{Stdout: body, ExitCode: rc})
		out = rest[nl+1:]
	}
	if !bytes.HasPrefix(out, []byte(s.boundary+" end\n")) {
		return nil, fmt.Errorf("probe output has no end marker: the stream was cut short")
	}
	return res, nil
}

// parseFrame reads "K RC", exactly as the script's printf writes it: any
// other spacing, a sign or a status no shell exits with means the stream
// is not what the script printed.
func parseFrame(line string, k int) (int, error) {
	idx, status, ok := strings.Cut(line, " ")
	switch {
	case !ok || strings.Contains(status, " ") || strings.ContainsAny(line, "\t\r"):
		return 0, fmt.Errorf("probe output: malformed frame %q of resource %d", line, k)
	case idx != strconv.Itoa(k):
		return 0, fmt.Errorf("probe output out of order at resource %d (frame %q)", k, line)
	}
	rc, err := strconv.Atoi(status)
	if err != nil || rc < 0 || rc > 255 || status != strconv.Itoa(rc) {
		return 0, fmt.Errorf("probe output: bad exit status %q for resource %d", status, k)
	}
	return rc, nil
}
