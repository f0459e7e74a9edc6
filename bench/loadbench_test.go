// Package bench holds the Go benchmarks of pinery's controller-side hot
// paths that span packages (load + evaluate a whole site), next to the peer
// benchmark harness (bench.py, run by `make bench`).
//
//	go test -run '^$' -bench . -benchmem ./bench ./engine/...
//
// The tests here only check that the generated site loads and evaluates
// (quick, no timing assertions): performance is judged by the benchmark
// report, never by a timed unit test.
package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
	_ "github.com/pinery/pinery/modules/all"
)

// writeSite writes a site of n resources shaped like the peer benchmark's
// (bench.py): directories, files with content and mode, packages present,
// services running and enabled, and templated config files, spread over
// several .hcl files, with references between resources.
func writeSite(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		tb.Fatal(err)
	}
	tmpl := "# managed by pinery\nname = ${host}\naddress = ${address}\nport = ${port}\n%{ for w in workers ~}\nworker ${w}\n%{ endfor ~}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "app.conf.tmpl"), []byte(tmpl), 0o644); err != nil {
		tb.Fatal(err)
	}
	var main strings.Builder
	main.WriteString(`variable "port" {
  type    = number
  default = 8080
}

locals {
  root = "/srv/bench"
}

directory "root" {
  path = local.root
  mode = "0755"
}
`)
	files := map[string]*strings.Builder{"main.hcl": &main}
	pkgs := []string{"openssh-server", "python3", "sudo", "dbus", "systemd-sysv"}
	svcs := []string{"ssh", "dpkg-db-backup.timer", "e2scrub_all.timer"}
	ndirs := n / 10
	count := 1
	for d := 0; d < ndirs && count < n; d++ {
		b := &strings.Builder{}
		files[fmt.Sprintf("d%03d.hcl", d)] = b
		fmt.Fprintf(b, "directory \"d%03d\" {\n  path = \"${directory.root.path}/d%03d\"\n  mode = \"0755\"\n}\n\n", d, d)
		count++
		for f := 0; f < 9 && count < n; f++ {
			switch {
			case f == 8 && d < len(pkgs):
				fmt.Fprintf(b, "package \"p%03d\" {\n  name = %q\n}\n\n", d, pkgs[d])
			case f == 8 && d < len(pkgs)+len(svcs):
				fmt.Fprintf(b, "service \"s%03d\" {\n  name    = %q\n  enabled = true\n}\n\n", d, svcs[d-len(pkgs)])
			case f == 7:
				fmt.Fprintf(b, "file \"t%03d\" {\n  path     = \"${directory.d%03d.path}/app.conf\"\n  template = \"templates/app.conf.tmpl\"\n  vars = {\n    host    = host.name\n    address = host.address\n    port    = var.port\n    workers = [1, 2, 3]\n  }\n  mode = \"0640\"\n}\n\n", d, d)
			default:
				fmt.Fprintf(b, "file \"f%03d_%d\" {\n  path    = \"${directory.d%03d.path}/f%d.txt\"\n  content = \"file %d of directory %d on ${host.name}\\n%s\\n\"\n  mode    = \"0644\"\n}\n\n", d, f, d, f, f, d, strings.Repeat("x", 120))
			}
			count++
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func hostScope(i int) eval.Scope {
	return eval.Scope{
		Var: cty.EmptyObjectVal,
		Host: cty.ObjectVal(map[string]cty.Value{
			"name":    cty.StringVal(fmt.Sprintf("h%d", i)),
			"address": cty.StringVal(fmt.Sprintf("10.231.0.%d", 10+i)),
			"groups":  cty.ListVal([]cty.Value{cty.StringVal("all"), cty.StringVal("bench")}),
			"vars":    cty.EmptyObjectVal,
		}),
	}
}

// loadAndEval is what `pinery plan` does before it contacts any host.
func loadAndEval(tb testing.TB, dir string, hosts int) int {
	site, diags := config.Load(dir, config.Options{})
	if diags.HasErrors() {
		tb.Fatal(diags.Error())
	}
	vars, diags := eval.Variables(site, eval.Inputs{})
	if diags.HasErrors() {
		tb.Fatal(diags.Error())
	}
	prog, diags := eval.Compile(site)
	if diags.HasErrors() {
		tb.Fatal(diags.Error())
	}
	total := 0
	for h := 1; h <= hosts; h++ {
		sc := hostScope(h)
		sc.Var = vars
		g, diags := prog.Host(sc)
		if diags.HasErrors() {
			tb.Fatal(diags.Error())
		}
		total += len(g.Nodes)
	}
	return total
}

func TestSiteLoads(t *testing.T) {
	dir := writeSite(t, 1000)
	if got := loadAndEval(t, dir, 2); got != 2000 {
		t.Fatalf("evaluated %d resource instances, want 2000", got)
	}
}

func benchLoad(b *testing.B, resources, hosts int) {
	dir := writeSite(b, resources)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loadAndEval(b, dir, hosts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(resources*hosts), "ns/resource")
}

// BenchmarkLoadEval1000x1 loads and evaluates a 1,000-resource site for one host.
func BenchmarkLoadEval1000x1(b *testing.B) { benchLoad(b, 1000, 1) }

// BenchmarkLoadEval1000x24 is the same site for 24 hosts (one rack).
func BenchmarkLoadEval1000x24(b *testing.B) { benchLoad(b, 1000, 24) }

// BenchmarkEvalHost1000 is the per-host evaluation alone (site loaded and
// compiled once), the part that grows with the number of hosts.
func BenchmarkEvalHost1000(b *testing.B) {
	dir := writeSite(b, 1000)
	site, diags := config.Load(dir, config.Options{})
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	vars, _ := eval.Variables(site, eval.Inputs{})
	prog, diags := eval.Compile(site)
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	sc := hostScope(1)
	sc.Var = vars
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, diags := prog.Host(sc); diags.HasErrors() {
			b.Fatal(diags.Error())
		}
	}
}
