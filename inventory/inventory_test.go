package inventory

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const testHome = "/home/tester"

// TestParseGolden parses every testdata/parse/*.hcl and compares a dump of
// the inventory, or of the diagnostics, with the .golden file beside it.
func TestParseGolden(t *testing.T) {
	t.Setenv("HOME", testHome)
	files, err := filepath.Glob("testdata/parse/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hcl")
		t.Run(name, func(t *testing.T) {
			inv, diags := Load(file)
			got := dump(t, inv, diags)
			golden := strings.TrimSuffix(file, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./inventory -run TestParseGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file (-update rewrites it)\n--- got\n%s\n--- want\n%s", file, got, want)
			}
			if strings.HasPrefix(name, "bad_") != diags.HasErrors() {
				t.Errorf("bad_ files must fail, others must not: errors=%v", diags.HasErrors())
			}
		})
	}
}

// dump renders an inventory or its diagnostics as stable text: the test
// directory shows as $DIR, the home directory as $HOME.
func dump(t *testing.T, inv *Inventory, diags hcl.Diagnostics) string {
	t.Helper()
	dir, _ := filepath.Abs("testdata/parse")
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "%s: %s\n    %s\n", diagPos(d), d.Summary, d.Detail)
	}
	if inv == nil {
		if !diags.HasErrors() {
			t.Error("nil inventory without errors")
		}
		return b.String()
	}
	rel := func(p string) string {
		p = strings.ReplaceAll(p, dir, "$DIR")
		return strings.ReplaceAll(p, testHome, "$HOME")
	}
	for _, h := range inv.Hosts {
		fmt.Fprintf(&b, "host %s  (%s)\n", h.Name, rangePos(h.DeclRange))
		fmt.Fprintf(&b, "  ssh      %s@%s:%d timeout %s\n", h.User, h.Address, h.Port, h.ConnectTimeout)
		fmt.Fprintf(&b, "  identity %q\n  known    %q\n", rel(h.IdentityFile), rel(h.KnownHosts))
		fmt.Fprintf(&b, "  groups   %s\n", strings.Join(h.Groups, " "))
		fmt.Fprintf(&b, "  vars     %s\n", jsonOf(t, h.VarsValue()))
	}
	var names []string
	for n := range inv.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g := inv.Groups[n]
		fmt.Fprintf(&b, "group %s  (%s)\n", g.Name, rangePos(g.DeclRange))
		fmt.Fprintf(&b, "  hosts    %s\n", strings.Join(g.Hosts, " "))
		if len(g.Children) > 0 {
			fmt.Fprintf(&b, "  children %s\n", strings.Join(g.Children, " "))
		}
		if len(g.Vars) > 0 {
			fmt.Fprintf(&b, "  vars     %s\n", jsonOf(t, cty.ObjectVal(g.Vars)))
		}
	}
	return b.String()
}

func diagPos(d *hcl.Diagnostic) string {
	if d.Subject == nil {
		return "-"
	}
	return rangePos(*d.Subject)
}

func rangePos(r hcl.Range) string {
	if r.Filename == "" {
		return "-"
	}
	return fmt.Sprintf("%s:%d:%d", filepath.Base(r.Filename), r.Start.Line, r.Start.Column)
}

func jsonOf(t *testing.T, v cty.Value) string {
	t.Helper()
	j, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

func TestParseValid(t *testing.T) {
	t.Setenv("HOME", testHome)
	base := t.TempDir()
	file := filepath.Join(base, "site", "inventory.hcl")
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, inv *Inventory)
	}{{
		name: "built-in defaults",
		src:  `host "h1" {}`,
		check: func(t *testing.T, inv *Inventory) {
			h := mustHost(t, inv, "h1")
			want := Host{Name: "h1", Address: "h1", User: "root", Port: 22,
				KnownHosts: testHome + "/.ssh/known_hosts", ConnectTimeout: 10 * time.Second}
			if h.Address != want.Address || h.User != want.User || h.Port != want.Port ||
				h.IdentityFile != "" || h.KnownHosts != want.KnownHosts || h.ConnectTimeout != want.ConnectTimeout {
				t.Errorf("got %+v, want %+v", *h, want)
			}
			if strings.Join(h.Groups, ",") != "all" || len(h.Vars) != 0 || !h.VarsValue().RawEquals(cty.EmptyObjectVal) {
				t.Errorf("groups %v vars %v", h.Groups, h.Vars)
			}
			if r := h.DeclRange; r.Start.Line != 1 || r.Start.Column != 1 || r.Filename != file {
				t.Errorf("DeclRange %v", r)
			}
		},
	}, {
		name: "relative paths resolve against the inventory directory",
		src: `defaults {
  identity_file = "../keys/id"
  known_hosts   = "~/kh"
}
host "h1" { identity_file = "/abs/id" }
host "h2" {}`,
		check: func(t *testing.T, inv *Inventory) {
			if h := mustHost(t, inv, "h1"); h.IdentityFile != "/abs/id" || h.KnownHosts != testHome+"/kh" {
				t.Errorf("h1: %q %q", h.IdentityFile, h.KnownHosts)
			}
			if h := mustHost(t, inv, "h2"); h.IdentityFile != filepath.Join(base, "keys/id") {
				t.Errorf("h2: %q", h.IdentityFile)
			}
		},
	}, {
		name: "host order is first appearance, hosts stay unique",
		src: `group "g" { hosts = ["c", "a", "c"] }
host "b" {}
host "a" { groups = ["g2"] }
group "g2" { hosts = ["d", "b"] }`,
		check: func(t *testing.T, inv *Inventory) {
			if got := hostNames(inv.Hosts); got != "c a b d" {
				t.Errorf("order %q", got)
			}
			if got := strings.Join(inv.Groups["g2"].Hosts, " "); got != "a b d" {
				t.Errorf("g2 hosts %q (want inventory order)", got)
			}
			if got := strings.Join(inv.Groups["all"].Hosts, " "); got != "c a b d" {
				t.Errorf("all hosts %q", got)
			}
		},
	}, {
		name: "children make members and groups transitive",
		src: `group "top" { children = ["mid"] }
group "mid" { children = ["leaf"] }
group "leaf" { hosts = ["x"] }`,
		check: func(t *testing.T, inv *Inventory) {
			if got := strings.Join(mustHost(t, inv, "x").Groups, " "); got != "all leaf mid top" {
				t.Errorf("groups %q", got)
			}
			if got := strings.Join(inv.Groups["top"].Hosts, " "); got != "x" {
				t.Errorf("top hosts %q", got)
			}
		},
	}, {
		name: "precedence: defaults < all < parents < children < host, unrelated by name",
		src: `defaults { vars = { v = "defaults", w = "defaults", only_defaults = true } }
group "all" { vars = { v = "all", w = "all" } }
group "b_parent" {
  children = ["a_child"]
  vars     = { v = "b_parent", w = "b_parent", x = "b_parent" }
}
group "a_child" {
  hosts = ["h", "k"]
  vars  = { v = "a_child", y = "a_child" }
}
group "z" {
  hosts = ["h"]
  vars  = { x = "z", y = "z" }
}
group "y" {
  hosts = ["h"]
  vars  = { x = "y", y = "y" }
}
host "h" { vars = { v = "host", m = { deep = 1 } } }`,
		check: func(t *testing.T, inv *Inventory) {
			// h: all(0), b_parent(1), y(1), z(1), a_child(2).
			want := map[string]cty.Value{
				"v":             cty.StringVal("host"),
				"w":             cty.StringVal("b_parent"),
				"x":             cty.StringVal("z"),
				"y":             cty.StringVal("a_child"),
				"m":             cty.ObjectVal(map[string]cty.Value{"deep": cty.NumberIntVal(1)}),
				"only_defaults": cty.True,
			}
			assertVars(t, mustHost(t, inv, "h"), want)
			assertVars(t, mustHost(t, inv, "k"), map[string]cty.Value{
				"v": cty.StringVal("a_child"), "w": cty.StringVal("b_parent"), "x": cty.StringVal("b_parent"),
				"y": cty.StringVal("a_child"), "only_defaults": cty.True,
			})
		},
	}, {
		name: "merge is shallow",
		src: `group "g" {
  hosts = ["h"]
  vars  = { m = { a = 1, b = 2 } }
}
host "h" { vars = { m = { a = 3 } } }`,
		check: func(t *testing.T, inv *Inventory) {
			assertVars(t, mustHost(t, inv, "h"), map[string]cty.Value{
				"m": cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(3)}),
			})
		},
	}, {
		name: "null attributes are unset",
		src: `host "h" {
  user = null
  port = null
  vars = null
}`,
		check: func(t *testing.T, inv *Inventory) {
			if h := mustHost(t, inv, "h"); h.User != "root" || h.Port != 22 {
				t.Errorf("%+v", h)
			}
		},
	}, {
		name: "range patterns and undeclared groups",
		src: `host "n1" { groups = ["extra"] }
group "g" { hosts = ["n[1:3]", "r[a:b]"] }`,
		check: func(t *testing.T, inv *Inventory) {
			if got := hostNames(inv.Hosts); got != "n1 n2 n3 ra rb" {
				t.Errorf("hosts %q", got)
			}
			e, ok := inv.Groups["extra"]
			if !ok || strings.Join(e.Hosts, " ") != "n1" || e.DeclRange.Start.Line != 1 {
				t.Errorf("extra: %+v", e)
			}
			if h := mustHost(t, inv, "n2"); h.DeclRange.Start.Line != 2 || h.DeclRange.Start.Column != 22 {
				t.Errorf("n2 declared at %v", h.DeclRange)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, diags := Parse([]byte(tt.src), file)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			if inv.Path != file {
				t.Errorf("Path %q", inv.Path)
			}
			if _, ok := inv.Groups["all"]; !ok {
				t.Error("no group all")
			}
			tt.check(t, inv)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "line:column: summary", in order
	}{
		{"unknown attribute", "host \"h\" {\n  adress = \"x\"\n}", []string{"2:3: Unsupported argument"}},
		{"unknown block", "hots \"h\" {}", []string{"1:1: Unsupported block type"}},
		{"missing label", "host {}", []string{"1:6: Missing name for host"}},
		{"wrong type", "host \"h\" { port = \"ssh\" }", []string{"1:19: Incorrect attribute value type"}},
		{"port range", "host \"h\" { port = 0 }", []string{"1:19: Invalid port"}},
		{"list entry type", "group \"g\" { hosts = [\"a\", 2, [\"b\"]] }", []string{"1:30: Incorrect list entry type"}},
		{"duplicate host", "host \"h\" {}\nhost \"h\" {}", []string{"2:1: Duplicate host"}},
		{"duplicate group", "group \"g\" {}\n\ngroup \"g\" {}", []string{"3:1: Duplicate group"}},
		{"bad duration", "defaults {\n  connect_timeout = \"10\"\n}", []string{"2:21: Invalid duration"}},
		{"bad connection", "host \"h\" {\n  connection = \"winrm\"\n}", []string{"2:16: Invalid connection"}},
		{"connection in defaults", "defaults {\n  connection = \"local\"\n}", []string{"2:3: Unsupported argument"}},
		{"bad range", "group \"g\" { hosts = [\"a\", \"n[3:1]\"] }", []string{"1:27: Invalid host range"}},
		{"unknown child", "group \"g\" { children = [\"x\"] }", []string{"1:25: Unknown child group"}},
		{"cycle", "group \"a\" { children = [\"b\"] }\ngroup \"b\" { children = [\"a\"] }", []string{"1:25: Group cycle"}},
		{"reference", "host \"h\" { vars = { a = var.x } }", []string{"1:25: Reference in inventory"}},
		{"function", "host \"h\" { user = lower(\"X\") }", []string{"1:19: Function calls not allowed"}},
		{"group as host", "group \"g\" {}\ngroup \"x\" { hosts = [\"g\"] }", []string{"2:22: Group listed as a host"}},
		{"host named all", "host \"all\" {}", []string{"1:1: Host and group share a name"}},
		{"bad host name", "host \"a b\" {}", []string{"1:6: Invalid host name"}},
		{"vars not object", "host \"h\" { vars = [1] }", []string{"1:19: Incorrect attribute value type"}},
		{"all errors collected", "host \"h\" {\n  port = -1\n  connect_timeout = \"x\"\n  bogus = 1\n}\ngroup \"g\" { children = [\"nope\"] }",
			[]string{"2:10: Invalid port", "3:21: Invalid duration", "4:3: Unsupported argument", "6:25: Unknown child group"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, diags := Parse([]byte(tt.src), "inv.hcl")
			if inv != nil {
				t.Error("inventory returned with errors")
			}
			var got []string
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic without range: %s", d.Error())
					continue
				}
				if d.Detail == "" {
					t.Errorf("diagnostic without detail: %s", d.Error())
				}
				got = append(got, fmt.Sprintf("%d:%d: %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s\n(%s)", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "), diags.Error())
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	inv, diags := Load(filepath.Join(t.TempDir(), "nope.hcl"))
	if inv != nil || !diags.HasErrors() || !strings.Contains(diags.Error(), "Cannot read inventory") {
		t.Fatalf("got %v %v", inv, diags)
	}
}

func TestHostLookup(t *testing.T) {
	inv := parse(t, `group "g" { hosts = ["a", "b"] }`)
	if h, ok := inv.Host("b"); !ok || h.Name != "b" {
		t.Error("b not found")
	}
	if _, ok := inv.Host("c"); ok {
		t.Error("c found")
	}
	// A hand-built inventory (as other packages' tests make) works too.
	manual := &Inventory{Hosts: []*Host{{Name: "m"}}}
	if _, ok := manual.Host("m"); !ok {
		t.Error("manual inventory lookup failed")
	}
	if hs, err := manual.Select("m,all"); err != nil || len(hs) != 1 {
		t.Errorf("manual select: %v %v", hs, err)
	}
}

func parse(t testing.TB, src string) *Inventory {
	t.Helper()
	inv, diags := Parse([]byte(src), "inv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return inv
}

func mustHost(t *testing.T, inv *Inventory, name string) *Host {
	t.Helper()
	h, ok := inv.Host(name)
	if !ok {
		t.Fatalf("host %q missing", name)
	}
	return h
}

func hostNames(hs []*Host) string {
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
	}
	return strings.Join(names, " ")
}

func assertVars(t *testing.T, h *Host, want map[string]cty.Value) {
	t.Helper()
	if got, w := h.VarsValue(), cty.ObjectVal(want); !got.RawEquals(w) {
		t.Errorf("%s vars\n got %s\nwant %s", h.Name, jsonOf(t, got), jsonOf(t, w))
	}
}

// TestDocExample keeps the example at the top of docs/inventory.md valid.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/inventory.md")
	if err != nil {
		t.Skip(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```hcl\n")
	src, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no hcl example in docs/inventory.md")
	}
	inv := parse(t, src)
	h := mustHost(t, inv, "sopine03")
	assertVars(t, h, map[string]cty.Value{
		"tz":       cty.StringVal("UTC"),
		"apt_repo": cty.StringVal("https://apt.example.org"),
		"role":     cty.StringVal("canary"),
		"workers":  cty.NumberIntVal(4),
	})
	if got, _ := inv.Select("render:!canary"); hostNames(got) != "sopine01 sopine02 sopine04 sopine05 sopine06 sopine07" {
		t.Errorf("render:!canary = %q", hostNames(got))
	}
}

// connection = "local" marks the controller itself as a host.
func TestLocalConnection(t *testing.T) {
	inv, diags := Parse([]byte("host \"ctl\" {\n  connection = \"local\"\n}\nhost \"b\" {\n  connection = \"ssh\"\n}\nhost \"c\" {}\n"), "inv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for name, want := range map[string]bool{"ctl": true, "b": false, "c": false} {
		if h, _ := inv.Host(name); h.Local != want {
			t.Errorf("%s: Local = %v, want %v", name, h.Local, want)
		}
	}
}
