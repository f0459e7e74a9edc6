package aptrepo

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
)

// fetchRepo copies the repository at dir on h into a local directory (tar
// over the session), for Verify to check as apt would.
func fetchRepo(t *testing.T, h resource.Runner, dir string) string {
	t.Helper()
	res, err := h.Run(context.Background(), "tar -C "+q(dir)+" -cf - .", nil)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("fetching %s: %v %s", dir, err, res.Stderr)
	}
	local := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(res.Stdout))
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			return local
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(local, hd.Name)
		switch hd.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			os.Symlink(hd.Linkname, p)
		case tar.TypeLink:
			os.Link(filepath.Join(local, hd.Linkname), p)
		case tar.TypeReg:
			data, _ := io.ReadAll(tr)
			os.WriteFile(p, data, 0o644)
		}
	}
}

// TestFleetResource publishes to h2 with the apt_repo resource, checks the
// result with Verify and with apt on h2 itself (a file: source: nothing
// else to set up), follows an upgrade, prunes, and refuses a drifted host
// and another key.
func TestFleetResource(t *testing.T) {
	h := dialFleet(t, "h2")[0]
	base := t.TempDir()
	for _, s := range []string{"pinery-test-hello 1.0 amd64", "pinery-test-hello 1.0 arm64", "pinery-test-common 1 all",
		"pinery-test-hello 1.1 amd64", "pinery-test-hello 1.1 arm64", "pinery-test-hello 1.2 amd64"} {
		f := strings.Fields(s)
		debFile(t, base, f[0], f[1], f[2])
	}
	key, pub := aptrepotest.Key(t, aptrepotest.KeyOptions{})
	c := newAptClient(t, h)
	path := c.scratch + "/srv/apt"
	vals := func(extra map[string]cty.Value, pkgs ...string) map[string]cty.Value {
		m := resourceVals(key, path, pkgs...)
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	converge := func(m map[string]cty.Value) *resource.Diff {
		t.Helper()
		start := time.Now()
		d := resourcetest.Converge(t, h, newAptRepo(t, base, m))
		t.Logf("converged in %s: %v", time.Since(start).Round(time.Millisecond), d.Changes)
		return d
	}
	verify := func() string {
		t.Helper()
		local := fetchRepo(t, h, path)
		if problems := Verify(local, "stable", time.Now()); len(problems) > 0 {
			t.Fatalf("Verify of the published repository:\n%s", strings.Join(problems, "\n"))
		}
		return local
	}
	apt := func(want string) {
		t.Helper()
		if err := steps(
			func() error { return c.source("file:"+path, "stable", pub) },
			func() error {
				if out, ok, err := c.update(); err != nil || !ok {
					t.Fatalf("apt-get update: %v\n%s", err, out)
				}
				return nil
			},
			func() error { return c.install("pinery-test-hello") }); err != nil {
			t.Fatal(err)
		}
		if got := c.installed("pinery-test-hello"); got != want {
			t.Fatalf("installed %q, want %q", got, want)
		}
	}

	d := converge(vals(nil, "pinery-test-hello_1.0_amd64.deb", "pinery-test-hello_1.0_arm64.deb", "pinery-test-common_1_all.deb"))
	if d.Action != resource.Create || !strings.Contains(resourceChanges(d), "package pinery-test-hello (arm64):  → 1.0") {
		t.Fatalf("first apply: %v", d.Changes)
	}
	local := verify()
	first, _ := os.Readlink(filepath.Join(local, "dists/stable"))
	apt("1.0 amd64 pinery-test-hello 1.0")

	// A no-op run is one probe session and no change.
	r := newAptRepo(t, base, vals(nil, "pinery-test-hello_1.0_amd64.deb", "pinery-test-hello_1.0_arm64.deb", "pinery-test-common_1_all.deb"))
	before := h.(transport.Host).Sessions()
	if d := resourcetest.Plan(t, h, r); !d.Empty() {
		t.Fatalf("no-op: %v", d.Changes)
	}
	if n := h.(transport.Host).Sessions() - before; n != 1 {
		t.Errorf("no-op plan took %d sessions, want 1", n)
	}

	// An upgrade; common goes. The new snapshot keeps the old indexes
	// by hash.
	d = converge(vals(nil, "pinery-test-hello_1.1_amd64.deb", "pinery-test-hello_1.1_arm64.deb"))
	if got := resourceChanges(d); !strings.Contains(got, "package pinery-test-common (all): 1 → (removed)") ||
		!strings.Contains(got, "package pinery-test-hello (amd64): 1.0 → 1.1") {
		t.Fatalf("upgrade: %s", got)
	}
	local = verify()
	oldRel, err := os.ReadFile(filepath.Join(local, "dists", first, "Release")) // first is ../snapshots/ID/dists/stable
	if err != nil {
		t.Fatalf("the first snapshot is gone: %v", err)
	}
	rel, _ := ParseRelease(oldRel)
	for _, f := range rel.Files {
		for _, name := range byHashNames(f) {
			if !exists(filepath.Join(local, "dists/stable", name)) {
				t.Errorf("the new snapshot lacks the old index %s", name)
			}
		}
	}
	apt("1.1 amd64 pinery-test-hello 1.1")

	// keep = 1 with a valid_for and other settings: one snapshot stays,
	// and only the pool files it lists.
	converge(vals(map[string]cty.Value{"keep": resource.Num(1), "valid_for": cty.StringVal("7d"), "origin": cty.StringVal("example"),
		"architectures": strs("amd64", "arm64")}, "pinery-test-hello_1.2_amd64.deb", "pinery-test-hello_1.1_arm64.deb"))
	snaps := run(t, h, "ls "+q(path+"/snapshots"))
	pool := run(t, h, "cd "+q(path)+" && find pool -type f | sort")
	if strings.Count(snaps, "\n") != 1 || pool != "pool/main/p/pinery-test-hello/pinery-test-hello_1.1_arm64.deb\npool/main/p/pinery-test-hello/pinery-test-hello_1.2_amd64.deb\n" {
		t.Fatalf("after keep = 1: snapshots\n%s\npool\n%s", snaps, pool)
	}
	verify()
	if got := run(t, h, "grep -E '^(Origin|Valid-Until|Architectures):' "+q(path+"/dists/stable/Release")); !strings.Contains(got, "Origin: example\nValid-Until: ") || !strings.HasSuffix(got, "Architectures: amd64 arm64\n") {
		t.Errorf("Release fields:\n%s", got)
	}
	if leftovers := run(t, h, "ls -A "+q(path)); leftovers != ".pinery-repo.lock\ndists\npool\npubkey.asc\nsnapshots\n" {
		t.Errorf("the repository directory holds:\n%s", leftovers)
	}

	// Drift: the suite moves between plan and apply; apply refuses.
	r = newAptRepo(t, base, vals(nil, "pinery-test-hello_1.0_amd64.deb"))
	d = resourcetest.Plan(t, h, r)
	converge(vals(nil, "pinery-test-hello_1.1_amd64.deb"))
	if err := r.Apply(context.Background(), h, d); err == nil || !strings.Contains(err.Error(), "has changed since the plan; plan again") {
		t.Fatalf("apply after drift: %v", err)
	}

	// Another key: refused at plan time.
	otherKey, _ := aptrepotest.Key(t, aptrepotest.KeyOptions{})
	m := vals(nil, "pinery-test-hello_1.1_amd64.deb")
	m["signing_key"] = cty.StringVal(string(otherKey))
	r = newAptRepo(t, base, m)
	if _, err := r.Plan(resourcetest.Probe(t, h, r)); err == nil || !strings.Contains(err.Error(), "clients trust that key") {
		t.Fatalf("other key: %v", err)
	}

	// Another tool's repository is left alone; empty directories are fine.
	other := c.scratch + "/other"
	run(t, h, "mkdir -p "+q(other+"/pool/main/x")+" "+q(other+"/dists")+" && touch "+q(other+"/pool/main/x/x.deb"))
	r = newAptRepo(t, base, resourceVals(key, other, "pinery-test-hello_1.1_amd64.deb"))
	if _, err := r.Plan(resourcetest.Probe(t, h, r)); err == nil || !strings.Contains(err.Error(), "it is not a pinery repository") {
		t.Fatalf("another tool's repository: %v", err)
	}
	run(t, h, "rm -r "+q(other+"/pool/main"))
	if d := resourcetest.Plan(t, h, r); d.Action != resource.Create {
		t.Fatalf("empty pool and dists: %v", d.Changes)
	}
}

func resourceChanges(d *resource.Diff) string {
	var out []string
	for _, c := range d.Changes {
		out = append(out, c.Field+": "+c.Old+" → "+c.New)
	}
	return strings.Join(out, "\n")
}
