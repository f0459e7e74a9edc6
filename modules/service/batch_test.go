package service

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	probescript "github.com/pinery/pinery/engine/probe"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// rawProbe runs a service's own Probe as the engine does and returns what
// it printed.
func rawProbe(t *testing.T, r resource.Resource) resource.ProbeResult {
	t.Helper()
	res, err := transport.NewLocal().Run(context.Background(), "LC_ALL=C; export LC_ALL\n(\n"+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatal(err)
	}
	return resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode}
}

// batchProbe runs ProbeAll's snippet framed as the engine does and splits it.
func batchProbe(t *testing.T, svcs []*Service) (resource.ProbeResult, []resource.ProbeResult) {
	t.Helper()
	rs := make([]resource.Resource, len(svcs))
	for i, x := range svcs {
		rs[i] = x
	}
	snippet, split := svcs[0].ProbeAll(rs)
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
	if len(got) != len(svcs) {
		t.Fatalf("got %d results for %d services", len(got), len(svcs))
	}
	return outs[0], got
}

// shLine is the shell's line number in its own errors ("sh: 3: systemctl:
// not found"), which depends on where in the engine's script a probe runs.
var shLine = regexp.MustCompile(`(?m)^sh: [0-9]+: `)

// differences lists the services whose batched result or plan is not what
// their own probe gives.
func differences(svcs []*Service, got, want []resource.ProbeResult) []string {
	var out []string
	for i, x := range svcs {
		if !bytes.Equal(shLine.ReplaceAll(got[i].Stdout, nil), shLine.ReplaceAll(want[i].Stdout, nil)) || got[i].ExitCode != want[i].ExitCode {
			out = append(out, x.unit+": batched probe\n"+string(got[i].Stdout)+"own probe\n"+string(want[i].Stdout))
			continue
		}
		dg, eg := x.Plan(got[i])
		dw, ew := x.Plan(want[i])
		if (eg == nil) != (ew == nil) || (eg != nil && eg.Error() != ew.Error()) || !reflect.DeepEqual(dg, dw) {
			out = append(out, x.unit+": plans differ")
		}
	}
	return out
}

// variants gives each unit a service running and enabled, and one stopped
// and disabled, so that plans go every way.
func variants(t *testing.T, units []string) []*Service {
	var svcs []*Service
	for _, u := range units {
		for _, kv := range []map[string]cty.Value{
			{"name": cty.StringVal(u), "state": cty.StringVal("running"), "enabled": cty.True},
			{"name": cty.StringVal(u), "state": cty.StringVal("stopped"), "enabled": cty.False},
		} {
			svcs = append(svcs, mustNew(t, kv))
		}
	}
	return svcs
}

// split must cut real multi-unit output of systemctl show into exactly what
// each unit's own call printed. The golden files were captured from systemd
// 252 (Debian 12), a user manager (systemctl --user: the same show code; the
// build machine has no systemd as PID 1): all.out from one call over every
// unit listed in units (failed, auto-restarting, masked, static, disabled,
// alias, template instances, an escaped name, a timer, one not found, one
// twice), NN.out from the call for the NNth alone (each exited 0, and gave
// the same output again after all.out). TestProbeAllMatchesProbe runs both
// for real where systemd runs.
func TestSplitRealShowOutput(t *testing.T) {
	dir := filepath.Join("testdata", "systemctl-show")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	units := strings.Fields(string(read("units")))
	all := read("all.out")
	want := make([]resource.ProbeResult, len(units))
	var svcs []*Service
	for i, u := range units {
		svcs = append(svcs, mustNew(t, map[string]cty.Value{"name": cty.StringVal(u), "state": cty.StringVal("running"), "enabled": cty.True}))
		want[i] = resource.ProbeResult{Stdout: read(fmt.Sprintf("%02d.out", i+1))}
	}
	got, err := splitBatch(len(svcs), resource.ProbeResult{Stdout: all})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range differences(svcs, got, want) {
		t.Error(d)
	}
	// The plans must see what the units are: spot checks.
	for i, want := range map[int]string{2: "failed", 5: "activating (auto-restart)", 8: "masked", 12: "(unit not found yet)"} {
		d, err := svcs[i].Plan(got[i])
		if err != nil || d.Action != resource.Update || d.Changes[0].Old != want {
			t.Errorf("%s: %+v %v, want state %q", svcs[i].unit, d, err, want)
		}
	}
}

// systemdUp reports whether systemctl can talk to a running systemd.
func systemdUp() bool {
	return exec.Command("systemctl", "show", "-p", "Version").Run() == nil
}

// The batched probe must tell Plan exactly what each service's own probe
// tells it, for the units of the machine the test runs on. It needs a
// running systemd, and skips without one.
func TestProbeAllMatchesProbe(t *testing.T) {
	if !systemdUp() {
		t.Skip("systemd is not running here (systemctl show fails); TestSplitRealShowOutput checks split against captured output")
	}
	out, err := exec.Command("systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager").Output()
	if err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if _, err := New(cfg(map[string]cty.Value{"name": cty.StringVal(f[0])})); err == nil {
			units = append(units, f[0])
		}
		if len(units) == 150 {
			break
		}
	}
	t.Logf("%d units of this machine", len(units))
	units = append(units, "pinery-no-such-unit.service", "pinery-no-such-unit", units[0])
	svcs := variants(t, units)
	// Units may change state while the test runs (a timer fires): retry
	// before calling a difference a failure.
	var diffs []string
	for attempt := 0; attempt < 3; attempt++ {
		raw, got := batchProbe(t, svcs)
		if bytes.HasPrefix(raw.Stdout, []byte("#each\n")) {
			t.Fatalf("systemctl show over all units failed; the batch fell back to one call per unit:\n%s", raw.Stdout)
		}
		want := make([]resource.ProbeResult, len(svcs))
		for i, x := range svcs {
			want[i] = rawProbe(t, x)
		}
		if diffs = differences(svcs, got, want); len(diffs) == 0 {
			break
		}
	}
	for _, d := range diffs {
		t.Error(d)
	}

	// A name systemd rejects stops systemctl show part-way: each unit's own
	// probe runs instead.
	svcs = variants(t, []string{units[0], strings.Repeat("a", 250), units[1]})
	raw, got := batchProbe(t, svcs)
	if !bytes.HasPrefix(raw.Stdout, []byte("#each\n")) {
		t.Fatalf("no fallback for a name systemd rejects:\n%s", raw.Stdout)
	}
	want := make([]resource.ProbeResult, len(svcs))
	for i, x := range svcs {
		want[i] = rawProbe(t, x)
	}
	for _, d := range differences(svcs, got, want) {
		t.Error(d)
	}
}

// Where systemctl is installed but systemd is not running (a container, this
// build machine), systemctl fails and every unit's own probe runs instead, so
// that each reports the error exactly as alone.
func TestProbeAllSystemdDown(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Skip("no systemctl here")
	}
	if systemdUp() {
		t.Skip("systemd is running here")
	}
	svcs := variants(t, []string{"ssh", "cron.service", "pinery-no-such-unit"})
	raw, got := batchProbe(t, svcs)
	if !bytes.HasPrefix(raw.Stdout, []byte("#each\n")) {
		t.Fatalf("no fallback:\n%s", raw.Stdout)
	}
	want := make([]resource.ProbeResult, len(svcs))
	for i, x := range svcs {
		want[i] = rawProbe(t, x)
	}
	for _, d := range differences(svcs, got, want) {
		t.Error(d)
	}
	if _, err := svcs[0].Plan(got[0]); err == nil || !strings.Contains(err.Error(), "systemd is not running") {
		t.Errorf("want systemd is not running, got %v", err)
	}
}

// Without systemctl at all: the same fallback, exit status 127.
func TestProbeAllWithoutSystemctl(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(sh, filepath.Join(bin, "sh")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	svcs := variants(t, []string{"nginx", "cron"})
	_, got := batchProbe(t, svcs)
	want := make([]resource.ProbeResult, len(svcs))
	for i, x := range svcs {
		want[i] = rawProbe(t, x)
	}
	for _, d := range differences(svcs, got, want) {
		t.Error(d)
	}
	if got[0].ExitCode != 127 {
		t.Errorf("exit status %d, want 127", got[0].ExitCode)
	}
}

// A systemctl that exits 0 but also writes to stderr (a warning) or prints
// an unknown property must not be split: each unit's own probe runs.
func TestProbeAllStrayOutputFallsBack(t *testing.T) {
	bin := t.TempDir()
	fake := "#!/bin/sh\nfor a in \"$@\"; do case $a in *.service) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nUnitFileState=enabled\\n\\n';; esac; done\necho 'Warning: something' >&2\n"
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	svcs := variants(t, []string{"nginx", "cron"})
	raw, got := batchProbe(t, svcs)
	if !bytes.HasPrefix(raw.Stdout, []byte("#each\n")) {
		t.Fatalf("no fallback:\n%s", raw.Stdout)
	}
	want := make([]resource.ProbeResult, len(svcs))
	for i, x := range svcs {
		want[i] = rawProbe(t, x)
	}
	for _, d := range differences(svcs, got, want) {
		t.Error(d)
	}
}

func TestSplitBatchRejectsDamage(t *testing.T) {
	blk := "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled"
	got, err := splitBatch(2, resource.ProbeResult{Stdout: []byte(blk + "\n\n" + blk + "\n")})
	if err != nil || string(got[1].Stdout) != blk+"\n" {
		t.Fatalf("good output: %+v %v", got, err)
	}
	for name, out := range map[string]string{
		"empty":          "",
		"one unit":       blk + "\n",
		"three units":    blk + "\n\n" + blk + "\n\n" + blk + "\n",
		"no newline":     blk + "\n\n" + blk,
		"empty block":    blk + "\n\n\n\n",
		"stray line":     blk + "\n\nWarning: x\n" + blk + "\n",
		"other property": blk + "\n\nMainPID=1\n" + blk + "\n",
		"fallback cut":   "#each\nx\n#each 0 0\n",
		"fallback extra": "#each\n\n#each 0 0\n\n#each 1 0\nmore",
		"fallback rc":    "#each\n\n#each 0 x\n\n#each 1 0\n",
	} {
		if _, err := splitBatch(2, resource.ProbeResult{Stdout: []byte(out)}); err == nil {
			t.Errorf("%s: damaged output accepted", name)
		}
	}
	if _, err := splitBatch(2, resource.ProbeResult{Stdout: []byte(blk + "\n\n" + blk + "\n"), ExitCode: 1}); err == nil {
		t.Error("a failed batch was accepted")
	}
}
