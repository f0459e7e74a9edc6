package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

func TestValidateCommand(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"nginx -t -q -c %s", `nginx -t -q -c "$t"`, ""},
		{"grep -q '100%%' %s", `grep -q '100%' "$t"`, ""},
		{"cmp %s %s", `cmp "$t" "$t"`, ""},
		{"true", "", "must contain %s"},
		{"test -s %d", "", "has %d"},
		{"x %", "", "lone %"},
	} {
		got, err := validateCommand(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// validate sees the new content before it replaces the file: a check that
// fails leaves the old file and no temporary file, and says why; in one
// batched session the files after it still get exactly their own bytes.
func TestValidateGuardsTheFile(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	must(t, os.WriteFile(p("bad"), []byte("ok=1\n"), 0o644))
	check := cty.StringVal("grep -q '^ok=' %s || { echo 'no ok= line in' %s; exit 1; }")
	files := []*File{
		newFile(t, map[string]cty.Value{"path": str(p("good")), "content": str("ok=2\n"), "validate": check}),
		newFile(t, map[string]cty.Value{"path": str(p("bad")), "content": str("broken\n"), "validate": check}),
		newFile(t, map[string]cty.Value{"path": str(p("after")), "content": str("after\n")}),
	}
	rs := make([]resource.Resource, len(files))
	ds := make([]*resource.Diff, len(files))
	for i, f := range files {
		rs[i], ds[i] = f, plan(t, f)
	}
	err := files[0].ApplyAll(context.Background(), transport.NewLocal(), rs, ds)
	errs, ok := err.(resource.Errors)
	if !ok || errs[0] != nil || errs[2] != nil || errs[1] == nil {
		t.Fatalf("ApplyAll: %v", err)
	}
	if msg := errs[1].Error(); !strings.Contains(msg, "failed validate") || !strings.Contains(msg, "no ok= line in") || !strings.Contains(msg, "was not changed") {
		t.Errorf("error = %q", msg)
	}
	checkFile(t, p("good"), "ok=2\n", 0o644, 0, 0)
	checkFile(t, p("bad"), "ok=1\n", 0o644, 0, 0)
	checkFile(t, p("after"), "after\n", 0o644, 0, 0)
	noTemp(t, dir)

	// Unbatched too.
	f := newFile(t, map[string]cty.Value{"path": str(p("bad")), "content": str("still broken\n"), "validate": check})
	if err := f.Apply(context.Background(), transport.NewLocal(), plan(t, f)); err == nil || !strings.Contains(err.Error(), "failed validate") {
		t.Fatalf("Apply: %v", err)
	}
	checkFile(t, p("bad"), "ok=1\n", 0o644, 0, 0)
	noTemp(t, dir)
}
