package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pinery/pinery/engine/resource"
)

// Every module documents itself, and docs/modules is regenerated from the
// schemas (make docs) whenever they change.
func TestModuleDocs(t *testing.T) {
	for _, ty := range resource.Types() {
		if ty.Summary == "" || ty.Doc == "" || ty.Example == "" {
			t.Errorf("module %s lacks Summary, Doc or Example", ty.Name)
		}
		for _, f := range ty.Fields {
			if f.Doc == "" {
				t.Errorf("module %s: field %s has no Doc", ty.Name, f.Name)
			}
		}
	}
	for name, want := range moduleDocs() {
		got, err := os.ReadFile(filepath.Join("../../docs/modules", name))
		if err != nil || string(got) != want {
			t.Errorf("docs/modules/%s is out of date: run make docs", name)
		}
	}
}
