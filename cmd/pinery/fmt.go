package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aymanbagabas/go-udiff"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine/atomicfile"
)

func newFmtCmd(g *globals) *cobra.Command {
	var check, diff bool
	cmd := &cobra.Command{
		Use:   "fmt [PATH...]",
		Short: "Rewrite .hcl files in the canonical format",
		Long: `fmt rewrites .hcl files (recursively under each directory; default ".") in
the canonical layout. With --check it changes nothing and exits 3 when a file
is not formatted, for CI.`,
		Example: `  pinery fmt
  pinery fmt --check --diff site/ inventory.hcl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			var files []string
			for _, a := range args {
				err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					if d.IsDir() && p != a && (d.Name()[0] == '.' || d.Name() == "testdata") {
						return filepath.SkipDir
					}
					if !d.IsDir() && filepath.Ext(p) == ".hcl" {
						files = append(files, p)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			var diags hcl.Diagnostics
			unformatted := 0
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				// Formatting a file that does not parse would mangle it.
				if _, d := hclsyntax.ParseConfig(src, f, hcl.InitialPos); d.HasErrors() {
					diags = append(diags, d...)
					continue
				}
				out := hclwrite.Format(src)
				if bytes.Equal(src, out) {
					continue
				}
				unformatted++
				fmt.Fprintln(g.stdout, f)
				if diff {
					fmt.Fprint(g.stdout, udiff.Unified(f, f, string(src), string(out)))
				}
				if !check {
					info, err := os.Stat(f)
					if err != nil {
						return err
					}
					if err := atomicfile.Write(f, out, info.Mode().Perm()); err != nil {
						return err
					}
				}
			}
			if g.writeDiags(diags) {
				return exitError{2}
			}
			if check && unformatted > 0 {
				return exitError{3}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "change nothing; exit 3 if any file needs formatting")
	cmd.Flags().BoolVar(&diff, "diff", false, "show the changes as unified diffs")
	return cmd
}
