package pythonvenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

func q(s string) string { return shellescape.Quote(s) }

// venvSupport installs python3-venv on h when it is missing (apt goes
// through the fleet's cache) and purges, when the test ends, exactly the
// packages that added.
func venvSupport(t *testing.T, h resource.Runner) {
	t.Helper()
	const installed = `dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort`
	if res, _ := h.Run(context.Background(), "dpkg-query -W -f='${db:Status-Abbrev}' python3-venv 2>/dev/null | grep -q '^ii'", nil); res.ExitCode == 0 {
		return
	}
	before := run(t, h, installed)
	run(t, h, `export DEBIAN_FRONTEND=noninteractive
{ apt-get install -y -q python3-venv || { apt-get update -q && apt-get install -y -q python3-venv; }; } >/dev/null 2>&1`)
	added := diffLines(run(t, h, installed), before)
	t.Cleanup(func() {
		if len(added) > 0 {
			_, _ = h.Run(context.Background(), "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "+strings.Join(added, " ")+" >/dev/null 2>&1", nil)
		}
	})
}

func diffLines(after, before string) []string {
	had := map[string]bool{}
	for _, l := range strings.Fields(before) {
		had[l] = true
	}
	var out []string
	for _, l := range strings.Fields(after) {
		if !had[l] {
			out = append(out, q(l))
		}
	}
	return out
}

// scratch makes a directory on h, removed with all it holds at the end.
func scratch(t *testing.T, h resource.Runner) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	dir := "/tmp/pinery-venv-test-" + hex.EncodeToString(b[:])
	run(t, h, "mkdir -m 0755 "+dir)
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -rf -- "+dir, nil) })
	return dir
}

func applyErr(t *testing.T, h resource.Runner, r resource.Resource) error {
	t.Helper()
	d := plan(t, h, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return r.Apply(ctx, h, d)
}

// TestFleetVenv runs every scenario on h1 (amd64) against a wheelhouse
// served from the controller.
func TestFleetVenv(t *testing.T) {
	h := fleettest.Dial(t, "h1")
	start := time.Now()
	venvSupport(t, h)
	t.Logf("python3-venv ready in %s", time.Since(start).Round(time.Millisecond))
	wh := serveWheels(t, h, fetchWheels(t))
	dir := scratch(t, h)
	path := dir + "/venv"
	py := q(path + "/bin/python")
	venv := func(kv ...any) *Venv {
		m := map[string]cty.Value{"path": str(path), "index_url": str(wh.URL + "/simple/")}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(cty.Value)
		}
		return newVenv(t, m)
	}
	versions := func() string {
		return strings.TrimSpace(run(t, h, py+` -c 'import six, attr; print(six.__version__, attr.__version__)'`))
	}
	step := func(name string) func() {
		s := time.Now()
		return func() {
			t.Helper()
			t.Logf("%s: %s", name, time.Since(s).Round(time.Millisecond))
		}
	}

	// A new venv from find_links, two pins, owned by nobody.
	done := step("create")
	d := converge(t, h, venv("index_url", cty.NullVal(cty.String), "find_links", str(wh.URL+"/links/"),
		"packages", list("six==1.16.0", "attrs==23.2.0"), "owner", str("nobody"), "group", str("nogroup")))
	done()
	if d.Action != resource.Create || !strings.Contains(fmt.Sprint(d.Changes), "{package six  1.16.0 false} {package attrs  23.2.0 false}") {
		t.Fatalf("create: %+v", d)
	}
	if got := versions(); got != "1.16.0 23.2.0" {
		t.Fatalf("imported versions %q", got)
	}
	// Made in a temporary directory: its scripts name the final path, the
	// temporary name is gone from them, and nothing else is left beside it.
	pipCmd := q(path + "/bin/pip")
	got := strings.SplitN(run(t, h, "head -n 1 "+pipCmd+"; "+pipCmd+" --version; grep -cF /.pinery-venv- "+q(path+"/bin/activate")+" || :\n"+
		"stat -c %U:%G "+q(path)+" "+pipCmd+"; ls -A "+dir), "\n", 3)
	if len(got) != 3 || got[0] != "#!"+path+"/bin/python3" || !strings.Contains(got[1], " from "+path+"/lib/python3") ||
		got[2] != "0\nnobody:nogroup\nnobody:nogroup\nvenv\n" {
		t.Fatalf("relocated scripts, owner, leftovers: %q", got)
	}
	if got := run(t, h, "stat -c %U /usr/bin/python3.11"); got != "root\n" {
		t.Fatalf("chown followed bin/python to the interpreter: %s", got)
	}

	// A new pin, from the PEP 503 index: one change, applied; the owner stays.
	done = step("upgrade")
	d = converge(t, h, venv("packages", list("six==1.17.0", "attrs==23.2.0"), "owner", str("nobody")))
	done()
	if fmt.Sprint(d.Changes) != "[{package six 1.16.0 1.17.0 false}]" || versions() != "1.17.0 23.2.0" {
		t.Fatalf("upgrade: %+v, %s", d, versions())
	}

	// An extra package: left alone, then removed by exact (pip stays).
	run(t, h, py+" -m pip install -q --no-index --find-links "+wh.URL+"/links/ --trusted-host "+strings.TrimPrefix(wh.URL, "http://")+" idna==3.7")
	if d := plan(t, h, venv("packages", list("six==1.17.0", "attrs==23.2.0"))); !d.Empty() {
		t.Fatalf("an extra package is not left alone: %+v", d.Changes)
	}
	done = step("exact")
	d = converge(t, h, venv("packages", list("six==1.17.0", "attrs==23.2.0"), "exact", cty.True))
	done()
	if fmt.Sprint(d.Changes) != "[{package idna 3.7 (removed) false}]" {
		t.Fatalf("exact: %+v", d.Changes)
	}
	if got := run(t, h, py+" -c 'import idna' 2>/dev/null && echo idna; "+py+" -m pip --version >/dev/null && echo pip"); got != "pip\n" {
		t.Fatalf("after exact: %q", got)
	}

	// The system's packages, switched on by rewriting pyvenv.cfg.
	d = converge(t, h, venv("packages", list("six==1.17.0", "attrs==23.2.0"), "system_site_packages", cty.True))
	if fmt.Sprint(d.Changes) != "[{system_site_packages false true false}]" ||
		run(t, h, "grep include-system-site-packages "+q(path+"/pyvenv.cfg")) != "include-system-site-packages = true\n" {
		t.Fatalf("system_site_packages: %+v", d.Changes)
	}

	// A venv made by another Python is rebuilt, packages and all.
	run(t, h, "sed -i 's/^version = .*/version = 3.10.12/' "+q(path+"/pyvenv.cfg"))
	done = step("rebuild")
	d = converge(t, h, venv("packages", list("six==1.17.0", "attrs==23.2.0")))
	done()
	if d.Changes[0].Field != "python" || d.Changes[0].Old != "3.10.12" || !strings.Contains(d.Changes[1].New, "made by Python 3.10") || versions() != "1.17.0 23.2.0" {
		t.Fatalf("rebuild: %+v", d.Changes)
	}
	if got := run(t, h, "grep -E '^(version|include-system-site-packages) ' "+q(path+"/pyvenv.cfg")+"; ls -A "+dir); !strings.HasPrefix(got, "include-system-site-packages = false\nversion = 3.11") || !strings.HasSuffix(got, "\nvenv\n") {
		t.Fatalf("rebuilt venv:\n%s", got)
	}

	// Missing packages fail with pip's reason; a source-only release is not
	// compiled.
	err := applyErr(t, h, venv("packages", list("six==1.17.0", "nope-pkg==1.0")))
	if err == nil || !strings.Contains(err.Error(), "No matching distribution found for nope-pkg==1.0") {
		t.Fatalf("missing package: %v", err)
	}
	t.Logf("missing package, as reported: %v", err)
	err = applyErr(t, h, venv("index_url", cty.NullVal(cty.String), "find_links", str(wh.URL+"/links/"), "packages", list("sdistonly==1.0")))
	if err == nil || !strings.Contains(err.Error(), "sdistonly==1.0") || !strings.Contains(err.Error(), "only_binary = true") {
		t.Fatalf("source-only package: %v", err)
	}

	// An index behind a password: it works, and the password shows nowhere.
	private := str(wh.privateIndex())
	r := venv("index_url", private, "packages", list("six==1.16.0", "nope-pkg==1.0"))
	d = plan(t, h, r)
	err = r.Apply(context.Background(), h, d)
	if err == nil || strings.Contains(err.Error(), wh.pass) || strings.Contains(fmt.Sprint(d.Changes), wh.pass) ||
		!strings.Contains(err.Error(), "nope-pkg") || wh.authorized.Load() == 0 {
		t.Fatalf("private index: %+v, %v (authorized requests: %d)", d.Changes, err, wh.authorized.Load())
	}
	t.Logf("private index failure, as reported: %v", err)

	// Hashed requirements (pip-compile's output): pip checks what it
	// downloads, and refuses a wheel that does not match.
	reqs, rerr := os.ReadFile("testdata/synapse-requirements.txt")
	if rerr != nil {
		t.Fatal(rerr)
	}
	tampered := strings.ReplaceAll(string(reqs), "8abb2f1d", "8abb2f1e")
	err = applyErr(t, h, venv("index_url", private, "requirements", str(tampered)))
	if err == nil || !strings.Contains(err.Error(), "DO NOT MATCH THE HASHES") || strings.Contains(err.Error(), wh.pass) {
		t.Fatalf("a wheel that does not match its hash: %v", err)
	}
	d = converge(t, h, venv("index_url", private, "requirements", str(string(reqs))))
	if fmt.Sprint(d.Changes) != "[{package six 1.17.0 1.16.0 false}]" || versions() != "1.16.0 23.2.0" {
		t.Fatalf("downgrade from the private index, hashed: %+v", d.Changes)
	}

	// Removed, whole.
	d = converge(t, h, newVenv(t, map[string]cty.Value{"path": str(path), "state": str("absent")}))
	if d.Action != resource.Delete || run(t, h, "ls -A "+dir) != "" {
		t.Fatalf("absent: %+v", d)
	}
}

// TestFleetVenvArm64 makes one venv on h4 (arm64 under qemu, slow) and
// removes it.
func TestFleetVenvArm64(t *testing.T) {
	h := fleettest.Dial(t, "h4")
	start := time.Now()
	venvSupport(t, h)
	t.Logf("python3-venv ready in %s", time.Since(start).Round(time.Millisecond))
	wh := serveWheels(t, h, fetchWheels(t))
	path := scratch(t, h) + "/venv"
	vals := map[string]cty.Value{"path": str(path), "index_url": str(wh.URL + "/simple/"), "packages": list("six==1.16.0", "attrs==23.2.0")}

	start = time.Now()
	r := newVenv(t, vals)
	d := converge(t, h, r)
	t.Logf("created in %s", time.Since(start).Round(time.Millisecond))
	if d.Action != resource.Create {
		t.Fatalf("create: %+v", d)
	}
	start = time.Now()
	if d := plan(t, h, r); !d.Empty() {
		t.Fatalf("second plan: %+v", d.Changes)
	}
	t.Logf("no-op plan (probe) in %s", time.Since(start).Round(time.Millisecond))
	if got := run(t, h, q(path+"/bin/python")+` -c 'import six, attr, platform; print(six.__version__, attr.__version__, platform.machine())'`); got != "1.16.0 23.2.0 aarch64\n" {
		t.Fatalf("imported: %q", got)
	}
	vals["state"] = str("absent")
	if d := converge(t, h, newVenv(t, vals)); d.Action != resource.Delete {
		t.Fatalf("absent: %+v", d)
	}
}
