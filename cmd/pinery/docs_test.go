package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

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

// docs/cli is regenerated from the commands (make docs), and every command
// a user sees has an example in its help.
func TestCLIDocs(t *testing.T) {
	pages, err := cliDocs()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join("../../docs/cli", name))
		if err != nil || string(got) != want {
			t.Errorf("docs/cli/%s is out of date: run make docs", name)
		}
	}
	have, _ := filepath.Glob("../../docs/cli/pinery*.md")
	for _, p := range have {
		if _, ok := pages[filepath.Base(p)]; !ok {
			t.Errorf("docs/cli/%s documents no command: run make docs", filepath.Base(p))
		}
	}
	walkCommands(docRoot(), func(c *cobra.Command) {
		if c.Runnable() && c.Example == "" && !strings.HasPrefix(c.CommandPath(), "pinery completion") {
			t.Errorf("%s --help has no example", c.CommandPath())
		}
	})
	if _, err := manPages(); err != nil {
		t.Errorf("man pages: %v", err)
	}
}
