package file

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pinery/pinery/engine/resource"
)

var _ resource.Aggregator = (*File)(nil)

// ApplyAll applies every given file of a host in one session: one script,
// one subshell per file, the new contents streamed one after another on
// stdin. Each write still goes through a temporary file, its checksum and a
// rename, so a file whose bytes arrive short or shifted is left untouched.
func (f *File) ApplyAll(ctx context.Context, h resource.Runner, rs []resource.Resource, ds []*resource.Diff) error {
	errs := make(resource.Errors, len(rs))
	var script strings.Builder
	var stdin []io.Reader
	var todo []int
	for i, r := range rs {
		x, ok := r.(*File)
		if !ok {
			return fmt.Errorf("file: ApplyAll given a %T", r)
		}
		if ds[i].Empty() {
			continue
		}
		priv, ok := ds[i].Private.(*Private)
		if !ok {
			errs[i] = fmt.Errorf("file %q: the plan carries no file changes", x.path)
			continue
		}
		if priv.Write {
			stdin = append(stdin, bytes.NewReader(x.content))
		}
		// stderr joins stdout so that each file's messages come before its
		// own status line.
		fmt.Fprintf(&script, "(\n%s\n) 2>&1\necho \"--pinery-file %d $?\"\n", x.applyScript(priv, true), i)
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return nilIfNone(errs)
	}
	res, err := h.Run(ctx, script.String(), io.MultiReader(stdin...))
	if err != nil {
		return err
	}
	// Each file's messages, then "--pinery-file INDEX STATUS".
	done := map[int]bool{}
	var msgs []byte
	for _, line := range bytes.SplitAfter(res.Stdout, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("--pinery-file "))
		if !ok {
			msgs = append(msgs, line...)
			continue
		}
		var i, rc int
		if _, err := fmt.Sscanf(string(rest), "%d %d", &i, &rc); err != nil || i < 0 || i >= len(rs) || ds[i].Empty() {
			return fmt.Errorf("file: malformed status line %q", line)
		}
		x := rs[i].(*File)
		errs[i] = x.applyError(ds[i].Private.(*Private), resource.Result{Stderr: msgs, ExitCode: rc})
		done[i], msgs = true, nil
	}
	for _, i := range todo {
		if !done[i] {
			errs[i] = resource.Result{Stderr: append(msgs, res.Stderr...), ExitCode: max(res.ExitCode, 1)}.Err(fmt.Sprintf("file %q: the script ended before it", rs[i].(*File).path))
		}
	}
	return nilIfNone(errs)
}

func nilIfNone(errs resource.Errors) error {
	for _, err := range errs {
		if err != nil {
			return errs
		}
	}
	return nil
}
