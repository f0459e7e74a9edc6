package build

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

func str(s string) cty.Value { return cty.StringVal(s) }

func strs(ss ...string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	var vs []cty.Value
	for _, s := range ss {
		vs = append(vs, cty.StringVal(s))
	}
	return cty.ListVal(vs)
}

// testBase makes a small source directory in base and returns base.
func testBase(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	write(t, filepath.Join(base, "src", "hello.c"), "int main(void) { return 0; }\n", 0o644)
	write(t, filepath.Join(base, "src", "build.sh"), "#!/bin/sh\n", 0o755)
	return base
}

func write(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// valid is a minimal valid block: a source_dir packaged as a .deb.
func valid() map[string]cty.Value {
	return map[string]cty.Value{
		"source_dir": str("src"), "script": str("make install"),
		"deb_version": str("1.0-1"), "deb_maintainer": str("Ops <ops@example.org>"),
	}
}

func with(m map[string]cty.Value, kv ...any) map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1].(cty.Value)
	}
	return out
}

func config(t testing.TB, base string, vals map[string]cty.Value, sensitive ...string) resource.Config {
	t.Helper()
	return resourcetest.Config(t, "build", base, vals, sensitive...)
}

func newBuild(t testing.TB, base string, vals map[string]cty.Value, sensitive ...string) *Build {
	t.Helper()
	r, err := New(config(t, base, vals, sensitive...))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Build)
}
