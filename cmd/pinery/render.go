package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fatih/color"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"golang.org/x/term"

	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/plan"
)

// useColor honours --no-color, NO_COLOR and non-terminal output.
func (g *globals) useColor() bool {
	if g.noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := g.stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (g *globals) style() plan.Style {
	if !g.useColor() {
		return plan.Style{}
	}
	c := func(attrs ...color.Attribute) func(string) string {
		p := color.New(attrs...)
		p.EnableColor()
		return func(s string) string { return p.Sprint(s) }
	}
	return plan.Style{
		Add: c(color.FgGreen), Change: c(color.FgYellow), Remove: c(color.FgRed),
		Run: c(color.FgCyan), Bold: c(color.Bold), Faint: c(color.Faint),
	}
}

// writeDiags renders diagnostics with source snippets, like Terraform, and
// reports whether any is an error.
func (g *globals) writeDiags(diags hcl.Diagnostics, parsers ...*hclparse.Parser) bool {
	if len(diags) == 0 {
		return false
	}
	files := map[string]*hcl.File{}
	for _, p := range parsers {
		if p == nil {
			continue
		}
		for k, v := range p.Files() {
			files[k] = v
		}
	}
	// Sources not held by a parser (e.g. the inventory) are read again so
	// that every diagnostic shows its snippet; never an age-encrypted var
	// file (its cleartext is in no parser, and its ciphertext is no help).
	for _, d := range diags {
		if d.Subject == nil || d.Subject.Filename == "" {
			continue
		}
		name := d.Subject.Filename
		if eval.IsEncrypted(name, nil) {
			files[name] = nil
			continue
		}
		if _, ok := files[name]; !ok {
			if src, err := os.ReadFile(name); err == nil && !eval.IsEncrypted(name, src) {
				files[name] = &hcl.File{Bytes: src}
			}
		}
	}
	for _, d := range diags {
		writeDiag(g.stderr, d, files, g.style())
	}
	return diags.HasErrors()
}

// writeDiag prints one diagnostic compiler-style: "file:line:col: Error:
// summary" (clickable in editors, greppable in CI logs), the source line
// with the range underlined, then the detail that says how to fix it.
func writeDiag(w io.Writer, d *hcl.Diagnostic, files map[string]*hcl.File, st plan.Style) {
	sev, paintSev := "Error", st.Remove
	if d.Severity == hcl.DiagWarning {
		sev, paintSev = "Warning", st.Change
	}
	var b strings.Builder
	if s := d.Subject; s != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", s.Filename, s.Start.Line, s.Start.Column)
	}
	fmt.Fprintf(&b, "%s %s\n", paint(paintSev, sev+":"), paint(st.Bold, d.Summary))
	if s := d.Subject; s != nil {
		if f, ok := files[s.Filename]; ok && f != nil {
			lines := strings.Split(string(f.Bytes), "\n")
			if s.Start.Line >= 1 && s.Start.Line <= len(lines) {
				line := strings.TrimRight(lines[s.Start.Line-1], "\r")
				fmt.Fprintf(&b, "  %4d | %s\n", s.Start.Line, line)
				width := 1
				if s.End.Line == s.Start.Line && s.End.Column > s.Start.Column {
					width = s.End.Column - s.Start.Column
				}
				pad := strings.Map(func(r rune) rune {
					if r == '\t' {
						return '\t'
					}
					return ' '
				}, firstRunes(line, s.Start.Column-1))
				fmt.Fprintf(&b, "       | %s%s\n", pad, paint(paintSev, strings.Repeat("^", width)))
			}
		}
	}
	if d.Detail != "" {
		fmt.Fprintf(&b, "%s\n", indent(d.Detail, "  "))
	}
	b.WriteString("\n")
	io.WriteString(w, b.String())
}

func firstRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if n > len(r) {
		n = len(r)
	}
	return string(r[:n])
}

// jsonDiag is the JSON form of a diagnostic (validate --json).
type jsonDiag struct {
	Severity string    `json:"severity"`
	Summary  string    `json:"summary"`
	Detail   string    `json:"detail,omitempty"`
	Range    *jsonSpan `json:"range,omitempty"`
}

type jsonSpan struct {
	Filename string `json:"filename"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	EndLine  int    `json:"end_line"`
	EndCol   int    `json:"end_column"`
}

func writeDiagsJSON(w io.Writer, diags hcl.Diagnostics) error {
	out := struct {
		Valid       bool       `json:"valid"`
		ErrorCount  int        `json:"error_count"`
		Diagnostics []jsonDiag `json:"diagnostics"`
	}{Valid: !diags.HasErrors(), Diagnostics: []jsonDiag{}}
	for _, d := range diags {
		jd := jsonDiag{Severity: "warning", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagError {
			jd.Severity = "error"
			out.ErrorCount++
		}
		if s := d.Subject; s != nil {
			jd.Range = &jsonSpan{Filename: s.Filename, Line: s.Start.Line, Column: s.Start.Column, EndLine: s.End.Line, EndCol: s.End.Column}
		}
		out.Diagnostics = append(out.Diagnostics, jd)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// errorDiag makes a plain error (a flag problem) render like the others.
func errorDiag(summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail}}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
