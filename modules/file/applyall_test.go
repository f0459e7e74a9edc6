package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// ApplyAll writes, re-modes and removes many files in one session; a file
// that fails (its directory is missing) fails alone, and the files after it
// still get exactly their own bytes.
func TestApplyAllOneSession(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(p("remode"), []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("gone"), []byte("bye\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	str := cty.StringVal
	big := strings.Repeat("0123456789abcdef", 70000) // larger than a pipe buffer
	files := []*File{
		newFile(t, map[string]cty.Value{"path": str(p("a")), "content": str("first\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("nodir/b")), "content": str("lost\n")}),
		newFile(t, map[string]cty.Value{"path": str(p("empty")), "content": str("")}),
		newFile(t, map[string]cty.Value{"path": str(p("big")), "content": str(big)}),
		newFile(t, map[string]cty.Value{"path": str(p("remode")), "content": str("keep\n"), "mode": str("0640")}),
		newFile(t, map[string]cty.Value{"path": str(p("gone")), "state": str("absent")}),
		newFile(t, map[string]cty.Value{"path": str(p("deep/er/c")), "content": str("made\n"), "parents": cty.True}),
		newFile(t, map[string]cty.Value{"path": str(p("last")), "content": str("last\n")}),
	}
	rs := make([]resource.Resource, len(files))
	ds := make([]*resource.Diff, len(files))
	for i, f := range files {
		rs[i], ds[i] = f, plan(t, f)
		if ds[i].Empty() {
			t.Fatalf("%s: nothing to do", f.path)
		}
	}
	local := transport.NewLocal()
	err := files[0].ApplyAll(context.Background(), local, rs, ds)
	var each resource.Errors
	if !errors.As(err, &each) || len(each) != len(files) {
		t.Fatalf("ApplyAll = %v, want per-file errors", err)
	}
	for i, f := range files {
		if i == 1 {
			if each[i] == nil || !strings.Contains(each[i].Error(), "does not exist") {
				t.Errorf("%s: error %v, want its directory missing", f.path, each[i])
			}
			continue
		}
		if each[i] != nil {
			t.Errorf("%s: %v", f.path, each[i])
		}
		if d := plan(t, f); !d.Empty() {
			t.Errorf("%s: not converged: %+v", f.path, d.Changes)
		}
	}
	if local.Sessions() != 1 {
		t.Errorf("ApplyAll used %d sessions, want 1", local.Sessions())
	}
	if b, _ := os.ReadFile(p("last")); string(b) != "last\n" {
		t.Errorf("last file = %q", b)
	}
}
