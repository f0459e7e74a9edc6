package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/resource"
)

func savedFixture() *HostPlan {
	return &HostPlan{Host: "h1", JournalHash: "j0", Resources: []*ResourcePlan{
		{Addr: "file.a", Action: resource.Update, ProbeHash: "p1", Changes: []resource.Change{{Field: "content", Old: "1", New: "2"}}},
		{Addr: "file.s", Action: resource.Create, ProbeHash: "p2", Changes: []resource.Change{{Field: "content", New: "hunter2", Sensitive: true}}},
	}}
}

func TestSavedCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.plan")
	s, err := NewSaved(&Plan{Hosts: []*HostPlan{savedFixture()}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	s, err = ReadSaved(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		change func(h *HostPlan)
		want   string
	}{
		"unchanged":     {func(h *HostPlan) {}, ""},
		"drifted":       {func(h *HostPlan) { h.Resources[0].ProbeHash = "other" }, "file.a changed on the host"},
		"journal":       {func(h *HostPlan) { h.JournalHash = "j1" }, "journal of owed refreshes"},
		"plan differs":  {func(h *HostPlan) { h.Resources[0].Changes[0].New = "3" }, "its plan would differ"},
		"secret only":   {func(h *HostPlan) { h.Resources[1].Changes[0].New = "other secret" }, ""},
		"not in plan":   {func(h *HostPlan) { h.Host = "h9" }, "not in the saved plan"},
		"now unplanned": {func(h *HostPlan) { h.Error = errors.New("connection refused") }, "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			h := savedFixture()
			tc.change(h)
			err := s.Check(h)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// The file never holds a sensitive value.
	if b, _ := readFile(path); strings.Contains(b, "hunter2") {
		t.Errorf("saved plan holds a sensitive value:\n%s", b)
	}
	if err := s.MarkApplied(path); err != nil {
		t.Fatal(err)
	}
	if s2, _ := ReadSaved(path); s2.Applied == nil {
		t.Error("applied mark not saved")
	}
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
