package pkg

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/zclconf/go-cty/cty"

	probescript "github.com/pinery/pinery/engine/probe"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// ownProbes runs each package's own Probe as the engine does and returns
// what it printed; a few at a time, each apt-cache taking most of a second.
func ownProbes(t *testing.T, pkgs []*Package) []resource.ProbeResult {
	t.Helper()
	out := make([]resource.ProbeResult, len(pkgs))
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, x := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := transport.NewLocal().Run(context.Background(), "LC_ALL=C; export LC_ALL\n(\n"+x.Probe()+"\n) </dev/null", nil)
			out[i], errs[i] = resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode}, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// batchProbe runs ProbeAll's snippet framed as the engine does and splits it.
func batchProbe(t *testing.T, pkgs []*Package) (resource.ProbeResult, []resource.ProbeResult) {
	t.Helper()
	rs := make([]resource.Resource, len(pkgs))
	for i, x := range pkgs {
		rs[i] = x
	}
	snippet, split := pkgs[0].ProbeAll(rs)
	script := probescript.New([]string{snippet})
	res, err := transport.NewLocal().Run(context.Background(), "exec sh -s", strings.NewReader(script.Text))
	if err != nil || res.ExitCode != 0 || len(res.Stderr) > 0 {
		t.Fatalf("run: %v %+v", err, res)
	}
	outs, err := script.Parse(res.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	got, err := split(outs[0])
	if err != nil {
		t.Fatalf("split: %v\n%s", err, outs[0].Stdout)
	}
	if len(got) != len(pkgs) {
		t.Fatalf("got %d results for %d packages", len(got), len(pkgs))
	}
	return outs[0], got
}

func compareProbes(t *testing.T, pkgs []*Package, got []resource.ProbeResult) {
	t.Helper()
	wants := ownProbes(t, pkgs)
	for i, x := range pkgs {
		want := wants[i]
		if !bytes.Equal(got[i].Stdout, want.Stdout) || got[i].ExitCode != want.ExitCode {
			t.Errorf("%d %s (%s %s): batched probe\n%s(rc %d)\nown probe\n%s(rc %d)", i, x.name, x.state, x.version,
				got[i].Stdout, got[i].ExitCode, want.Stdout, want.ExitCode)
		}
		dg, eg := x.Plan(got[i])
		dw, ew := x.Plan(want)
		if (eg == nil) != (ew == nil) || (eg != nil && eg.Error() != ew.Error()) || !reflect.DeepEqual(dg, dw) {
			t.Errorf("%d %s: plans differ: batched %+v %v, own %+v %v", i, x.name, dg, eg, dw, ew)
		}
	}
}

// The batched probe must tell Plan exactly what each package's own probe
// tells it. This runs the real dpkg-query, apt-cache and find of this
// (Debian) machine: installed packages, a missing one, a virtual one,
// architecture-qualified names, every state, names that appear twice.
func TestProbeAllMatchesProbe(t *testing.T) {
	for _, tool := range []string{"dpkg-query", "apt-cache", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("not a Debian host: %v", err)
		}
	}
	query := func(args ...string) string {
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	native := query("dpkg", "--print-architecture")
	bashVersion := query("dpkg-query", "-W", "-f=${Version}", "bash")
	s := cty.StringVal
	n := func(kv ...any) *Package {
		m := map[string]cty.Value{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(cty.Value)
		}
		return mustNew(t, m)
	}
	pkgs := []*Package{
		n("name", s("coreutils")),
		n("name", s("bash"), "version", s(bashVersion)),
		n("name", s("bash"), "version", s("1.0-pinery")),
		n("name", s("bash:"+native), "state", s("latest")), // same package as "bash", named otherwise
		n("name", s("pinery-no-such-package")),
		n("name", s("pinery-no-such-package"), "state", s("absent")),
		n("name", s("pinery-no-such-package"), "state", s("purged")),
		n("name", s("pinery-no-such-package"), "state", s("latest")),
		n("name", s("coreutils"), "state", s("latest")),
		n("name", s("libc6"), "state", s("latest"), "update_cache", cty.False),
		n("name", s("dash"), "state", s("latest"), "cache_valid_time", resource.Num(60)),
		n("name", s("mail-transport-agent")),
		n("name", s("libc6:i386")),
		n("name", s("debconf:all")),
		n("name", s("debconf:"+native)),
		n("name", s("nginx")),
		n("name", s("nginx"), "version", s("1.0-pinery")),
		n("name", s("coreutils"), "state", s("absent")),
		n("name", s("dpkg"), "state", s("purged")),
	}
	out, got := batchProbe(t, pkgs)
	if bytes.HasPrefix(out.Stdout, []byte("#each\n")) {
		t.Fatalf("dpkg-query failed, the batch fell back to one probe per package:\n%s", out.Stdout)
	}
	// One apt-cache for all, and one alone only for names that share a
	// package name with another.
	if n := bytes.Count(out.Stdout, []byte("#policy\n")); n != 1 {
		t.Errorf("%d batched apt-cache calls", n)
	}
	shared := map[string]bool{"bash": true, "bash:" + native: true, "libc6": true, "libc6:i386": true, "debconf:all": true, "debconf:" + native: true}
	for _, l := range strings.Split(string(out.Stdout), "\n") {
		if name, ok := strings.CutPrefix(l, "#policy-of "); ok && !shared[name] {
			t.Errorf("apt-cache ran alone for %s", name)
		}
	}
	compareProbes(t, pkgs, got)
}

// Without dpkg-query (not a Debian host) every package's own probe runs,
// so each fails exactly as it would alone.
func TestProbeAllWithoutDpkg(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(sh, filepath.Join(bin, "sh")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	s := cty.StringVal
	pkgs := []*Package{
		mustNew(t, map[string]cty.Value{"name": s("bash")}),
		mustNew(t, map[string]cty.Value{"name": s("nginx"), "state": s("latest")}),
		mustNew(t, map[string]cty.Value{"name": s("exim4"), "state": s("purged")}),
	}
	out, got := batchProbe(t, pkgs)
	if !bytes.HasPrefix(out.Stdout, []byte("#each\n")) {
		t.Fatalf("no fallback:\n%s", out.Stdout)
	}
	compareProbes(t, pkgs, got)
	if _, err := pkgs[0].Plan(got[0]); err == nil || !strings.Contains(err.Error(), "dpkg-query not found") {
		t.Errorf("want dpkg-query not found, got %v", err)
	}
}

func TestSplitBatchRejectsDamage(t *testing.T) {
	s := cty.StringVal
	a := mustNew(t, map[string]cty.Value{"name": s("bash")})
	b := mustNew(t, map[string]cty.Value{"name": s("nginx"), "state": s("latest")})
	pkgs := []*Package{a, b}
	policyNginx := "nginx:\n  Installed: (none)\n  Candidate: 1.0\n  Version table:\n     1.0 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"
	good := "bash amd64 ii |5.2|\n#dpkg-end\n#want 1\n#policy\n" + policyNginx + "#policy-end 0\n#lists 3600\nlists=present\n#lists-end 1\n"
	got, err := splitBatch(pkgs, resource.ProbeResult{Stdout: []byte(good)})
	if err != nil {
		t.Fatalf("good output rejected: %v", err)
	}
	want := []resource.ProbeResult{
		{Stdout: []byte("dpkg=ii |5.2|\ndpkgrc=0\n")},
		{Stdout: []byte("dpkgrc=1\npolicy=begin\n" + policyNginx + "policy=end 0\nlists=present\n"), ExitCode: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("good output split wrong:\n%+v\nwant\n%+v", got, want)
	}
	// Framed outputs of the packages' own probes.
	got, err = splitBatch(pkgs, resource.ProbeResult{Stdout: []byte("#each\ndpkgrc=127\n\n#each 0 0\ndpkgrc=127\n\n#each 1 127\n")})
	if err != nil || string(got[0].Stdout) != "dpkgrc=127\n" || got[1].ExitCode != 127 {
		t.Fatalf("fallback output: %+v %v", got, err)
	}
	for name, out := range map[string]string{
		"empty":             "",
		"no dpkg end":       "bash amd64 ii |5.2|\n",
		"bad dpkg line":     "bash\n#dpkg-end\n",
		"cut":               "#dpkg-end\n#want 1\n#policy\n" + policyNginx,
		"cut line":          "#dpkg-end\n#want 1\n#policy\n" + policyNginx + "#policy-end 0\n#lists 3600\n#lists-end 0",
		"bad want":          "#dpkg-end\n#want 7\n",
		"want without":      "#dpkg-end\n#want 1\n#lists 3600\n#lists-end 0\n",
		"no lists":          "#dpkg-end\n#want 1\n#policy\n#policy-end 0\n",
		"stray line":        "#dpkg-end\nhello\n",
		"policy twice":      "#dpkg-end\n#want 1\n#policy\n" + policyNginx + policyNginx + "#policy-end 0\n#lists 3600\n#lists-end 0\n",
		"headless policy":   "#dpkg-end\n#want 1\n#policy\n  Installed: 1\n#policy-end 0\n#lists 3600\n#lists-end 0\n",
		"marker in section": "#dpkg-end\n#want 1\n#policy\n#want 0\n#policy-end 0\n",
		"bad rc":            "#dpkg-end\n#want 1\n#policy\n#policy-end zero\n",
		"fallback cut":      "#each\ndpkgrc=127\n\n#each 0 0\ndpkgrc=127\n",
		"fallback extra":    "#each\n\n#each 0 0\n\n#each 1 0\nmore",
	} {
		if _, err := splitBatch(pkgs, resource.ProbeResult{Stdout: []byte(out)}); err == nil {
			t.Errorf("%s: damaged output accepted", name)
		}
	}
	if _, err := splitBatch(pkgs, resource.ProbeResult{Stdout: []byte(good), ExitCode: 1}); err == nil {
		t.Error("a failed batch was accepted")
	}
}
