package plan

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/resource"
)

var update = flag.Bool("update", false, "rewrite golden files")

func samplePlan() *Plan {
	return &Plan{Hosts: []*HostPlan{
		{Host: "h1", Resources: []*ResourcePlan{
			{Addr: "directory.www", Action: resource.NoOp},
			{Addr: "file.site", Action: resource.Update,
				Changes: []resource.Change{{Field: "content", Old: "42 bytes", New: "43 bytes"}, {Field: "mode", Old: "0600", New: "0644"}},
				Diff:    "--- /etc/site\n+++ /etc/site\n@@ -1 +1 @@\n-listen 80;\n+listen 8080;\n"},
			{Addr: "file.token", Action: resource.Create, Changes: []resource.Change{{Field: "content", Old: "hunter2", New: "hunter3", Sensitive: true}}},
			{Addr: "service.nginx", Action: resource.Run, Reasons: []string{"watches file.site, which changes"}},
			{Addr: "package.nope", Error: errors.New("probe output malformed")},
		}},
		{Host: "h2", Resources: []*ResourcePlan{{Addr: "directory.www"}}},
		{Host: "h3", Error: errors.New("unreachable: connection timed out")},
	}}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRenderText(t *testing.T) {
	var b bytes.Buffer
	if err := samplePlan().WriteText(&b, Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.txt", b.Bytes())
	if strings.Contains(b.String(), "hunter") {
		t.Fatal("a sensitive value reached the text plan")
	}
}

func TestRenderJSON(t *testing.T) {
	var b bytes.Buffer
	if err := samplePlan().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.json", b.Bytes())
	if strings.Contains(b.String(), "hunter") {
		t.Fatal("a sensitive value reached the JSON plan")
	}
}

func TestCounts(t *testing.T) {
	p := samplePlan()
	c := p.Counts()
	if c.Create != 1 || c.Update != 1 || c.Run != 1 || c.Errors != 2 || c.Changed() != 3 {
		t.Fatalf("counts %+v", c)
	}
	if !p.HasChanges() || !p.HasErrors() {
		t.Fatal("HasChanges/HasErrors")
	}
}

func BenchmarkRenderText(b *testing.B) {
	p := &Plan{}
	for h := 0; h < 24; h++ {
		hp := &HostPlan{Host: "h"}
		for r := 0; r < 100; r++ {
			hp.Resources = append(hp.Resources, &ResourcePlan{Addr: "file.f", Action: resource.Update,
				Changes: []resource.Change{{Field: "mode", Old: "0600", New: "0644"}},
				Diff:    "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n"})
		}
		p.Hosts = append(p.Hosts, hp)
	}
	var buf bytes.Buffer
	for i := 0; i < b.N; i++ {
		buf.Reset()
		_ = p.WriteText(&buf, Style{})
	}
}
