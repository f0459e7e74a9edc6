package file

import (
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
	var scripts []string
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
			stdin = append(stdin, strings.NewReader(x.content))
		}
		scripts = append(scripts, x.applyScript(priv, true))
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return resource.ErrorsOrNil(errs)
	}
	results, err := resource.RunEach(ctx, h, scripts, io.MultiReader(stdin...))
	if err != nil {
		return err
	}
	for k, i := range todo {
		errs[i] = rs[i].(*File).applyError(ds[i].Private.(*Private), results[k])
	}
	return resource.ErrorsOrNil(errs)
}
