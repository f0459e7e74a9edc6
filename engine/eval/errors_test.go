package eval_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
	_ "github.com/pinery/pinery/modules/file"
)

// TestErrorCorpus loads each file of testdata/errors as a site. Every line
// marked `# ERROR: summary` must produce a diagnostic with that summary on
// that line, and no other error may appear. Nothing may panic.
func TestErrorCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors/*.hcl")
	if len(files) < 15 {
		t.Fatalf("corpus has %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := markers(t, f)
			dir := t.TempDir()
			src, _ := os.ReadFile(f)
			path := filepath.Join(dir, "main.hcl")
			os.WriteFile(path, src, 0o644)
			diags := evaluate(dir)
			got := map[int][]string{}
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil {
					t.Errorf("diagnostic without a source range: %s: %s", d.Summary, d.Detail)
					continue
				}
				if d.Detail == "" {
					t.Errorf("diagnostic without a hint: %s", d.Summary)
				}
				got[d.Subject.Start.Line] = append(got[d.Subject.Start.Line], d.Summary)
			}
			for line, summary := range want {
				if !contains(got[line], summary) {
					t.Errorf("line %d: want %q, got %q (all: %v)", line, summary, got[line], diags)
				}
				delete(got, line)
			}
			for line, s := range got {
				t.Errorf("unexpected error on line %d: %v", line, s)
			}
		})
	}
}

func evaluate(dir string) hcl.Diagnostics {
	site, diags := config.Load(dir, config.Options{})
	vars, d := eval.Variables(site, eval.Inputs{})
	diags = append(diags, d...)
	prog, d := eval.Compile(site)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return diags
	}
	host := cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("h1")})
	_, d = prog.Host(eval.Scope{Var: vars, Host: host})
	return append(diags, d...)
}

func markers(t *testing.T, path string) map[int]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if _, m, ok := strings.Cut(sc.Text(), "# ERROR: "); ok {
			out[n] = strings.TrimSpace(m)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}
