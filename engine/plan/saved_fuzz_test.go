package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadSaved: whatever a saved plan file holds (damaged, truncated,
// hand-edited, another format), reading it is a clear error or a plan
// that writes back to the same document, is private to its owner, and can
// be checked against a host without panicking.
func FuzzReadSaved(f *testing.F) {
	s, err := NewSaved(&Plan{Hosts: []*HostPlan{savedFixture()}}, "test")
	if err != nil {
		f.Fatal(err)
	}
	good, err := json.Marshal(s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"format":"pinery-plan/0","hosts":[]}`))
	f.Add([]byte(`{"format":"pinery-plan/1","hosts":[{"host":"h1","probes":null,"plan":"not an object"}]}`))
	f.Add([]byte(`{"format":"pinery-plan/1","hosts":[{"host":"h1","plan":{"resources":[{}]}}],"applied":"1970-01-01T00:00:00Z"}`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.plan")
		if err := os.WriteFile(in, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := ReadSaved(in)
		if err != nil {
			if s != nil {
				t.Fatal("a plan returned with an error")
			}
			if !strings.Contains(err.Error(), in) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if s.Format != SavedFormat {
			t.Fatalf("read a plan of format %q", s.Format)
		}
		_ = s.Check(savedFixture())
		out := filepath.Join(dir, "out.plan")
		if err := s.Write(out); err != nil {
			t.Fatalf("writing back: %v", err)
		}
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("written plan: %v, mode %v", err, fi.Mode())
		}
		again, err := ReadSaved(out)
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		a, _ := json.Marshal(s)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip differs:\n%s\n%s", a, b)
		}
	})
}
