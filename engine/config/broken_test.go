package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
	_ "github.com/pinery/pinery/modules/all"
)

// TestBrokenCorpus loads each file of testdata/broken as a site and
// evaluates it for a host, as plan does. Each file is one class of error
// of the language (syntax, types, functions, meta-arguments, roles, module
// fields): it must yield an error diagnostic whose summary contains the
// file's "# want:" line, every error must point into the file (a Subject
// range), and nothing may panic.
func TestBrokenCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/broken/*.hcl")
	if len(files) < 50 {
		t.Fatalf("corpus has %d files", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".hcl"), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := bytes.Cut(src, []byte("\n"))
			want, ok := strings.CutPrefix(string(first), "# want: ")
			if !ok {
				t.Fatalf("first line is not \"# want: summary\"")
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "main.hcl")
			if err := os.WriteFile(path, src, 0o644); err != nil {
				t.Fatal(err)
			}
			lines := bytes.Count(src, []byte("\n")) + 1
			diags := load(t, dir)
			found := false
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				found = found || strings.Contains(d.Summary, want)
				switch s := d.Subject; {
				case s == nil:
					t.Errorf("diagnostic without a source range: %s: %s", d.Summary, d.Detail)
				case s.Filename != path || s.Start.Line < 1 || s.Start.Line > lines || s.End.Byte < s.Start.Byte:
					t.Errorf("diagnostic %q points outside the file: %s", d.Summary, s)
				}
			}
			if !found {
				t.Errorf("no error %q; got %v", want, diags)
			}
		})
	}
}

// load does what plan does before contacting a host: load, variables,
// compile, evaluate for one host. A panic fails the test.
func load(t *testing.T, dir string) (diags hcl.Diagnostics) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("panic: %v", p)
		}
	}()
	site, diags := config.Load(dir, config.Options{})
	if site == nil {
		return diags
	}
	vars, d := eval.Variables(site, eval.Inputs{})
	diags = append(diags, d...)
	prog, d := eval.Compile(site)
	diags = append(diags, d...)
	if diags.HasErrors() || prog == nil {
		return diags
	}
	host := cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("h1")})
	_, d = prog.Host(eval.Scope{Var: vars, Host: host})
	return append(diags, d...)
}
