package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/resource"
)

func TestPlanTable(t *testing.T) {
	base := testBase(t)
	b := newBuild(t, base, with(valid(), "artifacts", strs("usr/bin/*")))
	in := b.inputs("arm64")
	probe := func(in *inputs, dest bool) string {
		s := "arch=arm64\n"
		if dest {
			s += "dest=1\n"
		}
		if in != nil {
			for _, l := range strings.Split(strings.TrimSuffix(in.String(), "\n"), "\n") {
				s += "built." + l + "\n"
			}
		}
		return s
	}
	otherScript := newBuild(t, base, with(valid(), "script", str("make"), "artifacts", strs("usr/bin/*"))).inputs("arm64")
	v09 := newBuild(t, base, with(valid(), "deb_version", str("0.9-1"), "artifacts", strs("usr/bin/*")))
	noArtifacts := newBuild(t, base, valid())

	deb, art := "test_1.0-1_arm64.deb", "arm64/usr/bin/hello"
	summary := deb + ", artifacts usr/bin/* in arm64/"
	// recorded writes the controller's record of a build: from, with
	// these inputs, made the files (name → content).
	type recorded struct {
		from  *Build
		in    inputs
		files map[string]string
	}
	good := &recorded{b, in, map[string]string{deb: "deb", art: "elf"}}
	tests := []struct {
		name    string
		probe   string
		rec     *recorded // nil: none
		tamper  bool      // change a file after recording it
		garble  bool      // a record that cannot be read
		action  resource.Action
		build   bool
		changes string
		err     string
	}{
		{name: "first build", probe: probe(nil, false), action: resource.Create, build: true,
			changes: "[{build  on arm64 in /var/lib/pinery/builds/test false} {output  " + summary + " false}]"},
		{name: "converged", probe: probe(&in, true), rec: good, action: resource.NoOp},
		{name: "converged, builder wiped", probe: probe(nil, false), rec: good, action: resource.NoOp},
		{name: "fresh controller", probe: probe(&in, true), action: resource.Create,
			changes: "[{output  " + summary + " false}]"},
		{name: "edited output", probe: probe(&in, true), rec: good, tamper: true, action: resource.Update,
			changes: "[{output changed or missing files " + summary + " false}]"},
		{name: "unreadable record", probe: probe(&in, true), rec: good, garble: true, action: resource.Create,
			changes: "[{output unreadable record " + summary + " false}]"},
		{name: "new version", probe: probe(&in, true), rec: &recorded{v09, in, map[string]string{"test_0.9-1_arm64.deb": "x", art: "elf"}},
			action: resource.Update, changes: "[{deb_version 0.9-1 1.0-1 false} {output " + art + ", test_0.9-1_arm64.deb " + summary + " false}]"},
		{name: "new artifacts", probe: probe(&in, true), rec: &recorded{noArtifacts, in, map[string]string{deb: "deb"}},
			action: resource.Update, changes: "[{artifacts  usr/bin/* false}]"},
		{name: "script changed", probe: probe(&otherScript, true), rec: &recorded{b, otherScript, good.files}, action: resource.Update, build: true,
			changes: fmt.Sprintf("[{script %s %s false}]", short(otherScript.Script), short(in.Script))},
		{name: "builder output removed", probe: probe(&in, false), rec: &recorded{b, otherScript, good.files}, action: resource.Update, build: true,
			changes: "[{build done, its output was removed rebuild false}]"},
		{name: "record of another build", probe: probe(&in, true), rec: &recorded{b, otherScript, good.files}, action: resource.Update,
			changes: "[{output from another build " + summary + " false}]"},
		{name: "no dpkg", probe: "nodpkg\n", err: "no dpkg"},
		{name: "bad line", probe: "arch=arm64\nwhat\n", err: "malformed probe output line"},
		{name: "bad arch", probe: "arch=\n", err: "architecture"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(b.outDir)
			if r := tt.rec; r != nil {
				rec := &record{Key: r.from.outputKey(r.in.Key), Build: r.in.Key, Spec: r.from.spec()}
				for name, content := range r.files {
					write(t, filepath.Join(b.outDir, name), content, 0o644)
					sum := sha256.Sum256([]byte(content))
					rec.Files = append(rec.Files, [2]string{hex.EncodeToString(sum[:]), name})
				}
				slices.SortFunc(rec.Files, func(a, b [2]string) int { return strings.Compare(a[1], b[1]) })
				write(t, b.recordPath("arm64"), string(rec.encode()), 0o644)
			}
			if tt.tamper {
				write(t, filepath.Join(b.outDir, deb), "edited", 0o644)
			}
			if tt.garble {
				write(t, b.recordPath("arm64"), "garbage\n", 0o644)
			}
			d, err := b.Plan(resource.ProbeResult{Stdout: []byte(tt.probe)})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v (%+v)", d.Action, tt.action, d.Changes)
			}
			if d.Empty() {
				return
			}
			if p := d.Private.(*Private); p.Build != tt.build || p.Arch != "arm64" {
				t.Errorf("private %+v, want build %v", p, tt.build)
			}
			if got := fmt.Sprint(d.Changes); got != tt.changes {
				t.Errorf("changes\n got %s\nwant %s", got, tt.changes)
			}
		})
	}

	// A sensitive script's change is hidden.
	os.RemoveAll(b.outDir)
	s := newBuild(t, base, with(valid(), "artifacts", strs("usr/bin/*")), "script")
	d, err := s.Plan(resource.ProbeResult{Stdout: []byte(probe(&otherScript, true))})
	if err != nil {
		t.Fatal(err)
	}
	if d.Changes[0].Field != "script" || !d.Changes[0].Sensitive {
		t.Errorf("sensitive script: %+v", d.Changes)
	}
}

func TestShowValue(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{nil, ""}, {"1.0", "1.0"}, {[]any{"libc6", "libssl3 (>= 3)"}, "libc6, libssl3 (>= 3)"},
		{map[string]any{"prerm": "b", "postinst": "a"}, "postinst sha256:" + sha256Of("a")[:12] + ", prerm sha256:" + sha256Of("b")[:12]},
	} {
		if got := showValue(tt.v); got != tt.want {
			t.Errorf("showValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
