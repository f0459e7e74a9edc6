package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine"
)

func newGraphCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph [SITE]",
		Short: "Print the resource graph of one host as DOT (or SVG)",
		Long: `graph evaluates the site for one host (select it with -l HOST) and prints
its resources and the edges between them in Graphviz's DOT language: an edge
A -> B means A is applied before B, labelled with why (depends_on, reference,
watch, onchanges, onfail, prereq). Nothing is contacted unless the site uses
fact.*, in which case the host's facts are gathered first.`,
		Example: `  pinery graph -i inventory.hcl -l h1 site > h1.dot
  pinery graph -i inventory.hcl -l h1 --format svg site > h1.svg`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "dot" && format != "svg" {
				return fmt.Errorf("--format %q: want dot or svg", format)
			}
			var dotPath string
			if format == "svg" {
				p, err := exec.LookPath("dot")
				if err != nil {
					return errors.New("--format svg needs Graphviz's dot command, which is not on PATH: install Graphviz, or use --format dot and render the output elsewhere")
				}
				dotPath = p
			}
			// One host: check the selection before evaluating anything.
			_, hosts, diags := g.loadInventory()
			if g.writeDiags(diags) {
				return exitError{1}
			}
			if len(hosts) != 1 {
				names := make([]string, len(hosts))
				for i, h := range hosts {
					names[i] = h.Name
				}
				g.writeDiags(errorDiag("Select one host",
					fmt.Sprintf("graph draws the graph of one host, and the selection has %d (%s). Select one with -l HOST.", len(hosts), listNames(names, 5))))
				return exitError{1}
			}
			r, ok := g.prepare(args)
			if !ok {
				return exitError{1}
			}
			ctx, stop := signalContext()
			defer stop()
			views, diags := r.Graphs(ctx)
			if g.writeDiags(diags, r.Site.Parser) {
				return exitError{1}
			}
			view := views[0]
			if view.Err != nil {
				return fmt.Errorf("host %s: %w", view.Host, view.Err)
			}
			var dot bytes.Buffer
			writeDOT(&dot, view)
			if format == "dot" {
				_, err := g.stdout.Write(dot.Bytes())
				return err
			}
			c := exec.CommandContext(ctx, dotPath, "-Tsvg")
			c.Stdin, c.Stdout, c.Stderr = &dot, g.stdout, g.stderr
			if err := c.Run(); err != nil {
				return fmt.Errorf("dot -Tsvg: %w", err)
			}
			return nil
		},
	}
	addVarFlags(cmd, g)
	cmd.Flags().StringVar(&format, "format", "dot", "output format: dot, or svg (through Graphviz's dot)")
	return cmd
}

// listNames joins at most n names, saying how many more there are.
func listNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

// dotShapes gives some resource types a shape of their own.
var dotShapes = map[string]string{
	"file":         "note",
	"directory":    "folder",
	"symlink":      "cds",
	"line":         "note",
	"archive":      "box3d",
	"package":      "component",
	"service":      "ellipse",
	"systemd_unit": "note",
	"exec":         "cds",
}

// writeDOT writes a host's graph in Graphviz's DOT language.
func writeDOT(w io.Writer, v engine.HostGraphView) {
	fmt.Fprintf(w, "digraph %s {\n", dotID("pinery "+v.Host))
	fmt.Fprintf(w, "  label = %s;\n", dotID("host "+v.Host))
	fmt.Fprintln(w, "  rankdir = LR;")
	fmt.Fprintln(w, "  node [shape = box, fontname = \"sans-serif\"];")
	fmt.Fprintln(w, "  edge [fontname = \"sans-serif\", fontsize = 10];")
	for _, n := range v.Nodes {
		attrs := "label = " + dotID(n.Addr)
		if s, ok := dotShapes[n.Type]; ok {
			attrs += ", shape = " + s
		}
		fmt.Fprintf(w, "  %s [%s];\n", dotID(n.Addr), attrs)
	}
	for _, e := range v.Edges {
		attrs := "label = " + dotID(string(e.Kind))
		switch e.Kind {
		case engine.EdgeWatch:
			attrs += ", style = bold"
		case engine.EdgeOnChanges, engine.EdgeOnFail, engine.EdgePrereq:
			attrs += ", style = dashed"
		}
		fmt.Fprintf(w, "  %s -> %s [%s];\n", dotID(e.From), dotID(e.To), attrs)
	}
	fmt.Fprintln(w, "}")
}

// dotID quotes s as a DOT string.
func dotID(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
