package pkg

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// cfg builds a Config with the schema's defaults, overridden by kv.
func cfg(kv map[string]cty.Value) resource.Config {
	t, _ := resource.Lookup("package")
	c := resource.Config{Name: "t", Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
	for _, f := range t.Fields {
		v := cty.NullVal(f.Type)
		if f.Default != cty.NilVal {
			v = f.Default
		}
		c.Values[f.Name] = v
	}
	for k, v := range kv {
		c.Values[k] = v
	}
	return c
}

func mustNew(t *testing.T, kv map[string]cty.Value) *Package {
	t.Helper()
	r, err := New(cfg(kv))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Package)
}

// probe runs the snippet as the engine does, locally, and plans.
func probe(t *testing.T, r resource.Resource) *resource.Diff {
	t.Helper()
	res, err := transport.NewLocal().Run(context.Background(), "LC_ALL=C; export LC_ALL\n(\n"+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote to stderr: %s", res.Stderr)
	}
	d, err := r.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
	if err != nil {
		t.Fatalf("Plan: %v\nprobe output:\n%s", err, res.Stdout)
	}
	return d
}

// recorder is a Runner that records scripts and answers from a table of
// results matched by substring (first match wins; default exit 0).
type recorder struct {
	scripts []string
	answers []answer
}

type answer struct {
	contains string
	res      resource.Result
}

func (r *recorder) Run(_ context.Context, cmd string, _ io.Reader) (resource.Result, error) {
	r.scripts = append(r.scripts, cmd)
	for _, a := range r.answers {
		if strings.Contains(cmd, a.contains) {
			return a.res, nil
		}
	}
	return resource.Result{}, nil
}

// fakeApt puts a fake apt-get first on PATH that logs its arguments (one
// per line, then a "--" line) to the returned file and prints stdout from
// $FAKE_APT_OUT, exiting with $FAKE_APT_RC.
func fakeApt(t *testing.T) (logFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "apt.log")
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >>" + logFile + "\necho -- >>" + logFile +
		"\n[ -z \"$FAKE_APT_OUT\" ] || printf '%s\\n' \"$FAKE_APT_OUT\"\nexit ${FAKE_APT_RC:-0}\n"
	if err := os.WriteFile(filepath.Join(dir, "apt-get"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return logFile
}

// aptTree points the apt paths at a temporary tree for the test.
func aptTree(t *testing.T) (lists, sources string) {
	t.Helper()
	root := t.TempDir()
	oldL, oldS, oldP := listsDir, successStamp, sourcesList
	t.Cleanup(func() { listsDir, successStamp, sourcesList = oldL, oldS, oldP })
	listsDir = filepath.Join(root, "lists")
	successStamp = filepath.Join(root, "periodic", "update-success-stamp")
	sourcesList = filepath.Join(root, "sources.list")
	for _, d := range []string{listsDir, sourcesList + ".d"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return listsDir, sourcesList
}

// runLocal runs a script locally and returns its stdout; stderr is an error.
func runLocal(t *testing.T, script string) string {
	t.Helper()
	res, err := transport.NewLocal().Run(context.Background(), script, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("%s: stderr: %s", script, res.Stderr)
	}
	return string(res.Stdout)
}
