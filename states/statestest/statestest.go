// Package statestest evaluates a site that uses the state library's roles
// for a made-up board, as the engine does, without contacting any host: for
// tests of what a role computes from a board's facts (its memory sizing, the
// files it would write).
package statestest

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/inventory"
	_ "github.com/pinery/pinery/modules/all" // the roles' resource types
)

// Board is the host a site is evaluated for. Zero fields get defaults: a
// 4-core arm64 board named board1 at 10.0.0.1.
type Board struct {
	Name, Address string
	IPv4          string // fact.primary_ipv4; default: Address
	Cores         int
	MemoryMB      int
	Arch          string            // uname -m: "aarch64", "x86_64"
	Others        map[string]string // more inventory hosts: name → address
}

// Library is the directory of the repository's state library.
func Library() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Result is what a board would get: its resource instances in the order
// the engine would apply them.
type Result struct {
	Nodes    []*eval.Node
	Warnings []string // "summary: detail" of each warning (failed checks among them)
}

// Node is the instance with the given address, or nil.
func (r Result) Node(addr string) *eval.Node {
	for _, n := range r.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// Eval writes src as the site's main.hcl (with more files as name,
// content pairs, relative to the site), loads it with the repository's
// state library and evaluates it for b. It returns the board's resource
// instances, or the errors as text (what a role's bad inputs produce).
func Eval(t testing.TB, src string, b Board, files ...string) (Result, string) {
	t.Helper()
	b = b.withDefaults()
	site := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(site, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.hcl", src)
	for i := 0; i+1 < len(files); i += 2 {
		write(files[i], files[i+1])
	}
	cfg, diags := config.Load(site, config.Options{Library: []string{Library()}})
	vars, d := eval.Variables(cfg, eval.Inputs{})
	diags = append(diags, d...)
	prog, d := eval.Compile(cfg)
	if prog != nil {
		prog.KeepConfig = true // Field and the roles' tests read them
	}
	diags = append(diags, d...)
	if diags.HasErrors() {
		return Result{}, diags.Error()
	}
	hostVal := func(name, addr string) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{
			"name": cty.StringVal(name), "address": cty.StringVal(addr),
			"groups": cty.ListVal([]cty.Value{cty.StringVal("all")}), "vars": cty.EmptyObjectVal,
		})
	}
	host := hostVal(b.Name, b.Address)
	hosts, all := map[string]cty.Value{b.Name: host}, []cty.Value{cty.StringVal(b.Name)}
	for name, addr := range b.Others {
		hosts[name] = hostVal(name, addr)
		all = append(all, cty.StringVal(name))
	}
	fleet := cty.ObjectVal(map[string]cty.Value{
		"hosts":  cty.ObjectVal(hosts),
		"groups": cty.ObjectVal(map[string]cty.Value{"all": cty.ListVal(all)}),
		"roles":  cty.EmptyObjectVal,
	})
	facts := inventory.Facts{
		"hostname": b.Name, "kernel": "6.1.0", "arch": b.Arch, "primary_ipv4": b.IPv4,
		"cpu_count": strconv.Itoa(b.Cores), "memory_mb": strconv.Itoa(b.MemoryMB),
		"os_id": "debian", "os_version_id": "12", "os_codename": "bookworm", "init": "systemd",
	}
	g, diags := prog.Host(eval.Scope{Var: vars, Host: host, Fact: facts.Value(), Inventory: fleet})
	if diags.HasErrors() {
		return Result{}, diags.Error()
	}
	res := Result{Nodes: g.Nodes}
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			res.Warnings = append(res.Warnings, d.Summary+": "+d.Detail)
		}
	}
	return res, ""
}

// Field is a node's field as a string ("" when null or not a string).
func Field(n *eval.Node, name string) string {
	if n == nil || n.Config == nil {
		return ""
	}
	v, ok := n.Config.Values[name]
	if !ok || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func (b Board) withDefaults() Board {
	if b.Name == "" {
		b.Name = "board1"
	}
	if b.Address == "" {
		b.Address = "10.0.0.1"
	}
	if b.Cores == 0 {
		b.Cores = 4
	}
	if b.MemoryMB == 0 {
		b.MemoryMB = 4096
	}
	if b.Arch == "" {
		b.Arch = "aarch64"
	}
	if b.IPv4 == "" {
		b.IPv4 = b.Address
	}
	return b
}

// DocRows returns, for every line of docs/roles/NAME.md that the pattern
// matches (a row of the page's sizing table), its submatches: the tables
// users read are checked against what the roles compute.
func DocRows(t testing.TB, name string, row *regexp.Regexp) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(Library()), "docs", "roles", name+".md"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, line := range strings.Split(string(b), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			out = append(out, m[1:])
		}
	}
	return out
}
