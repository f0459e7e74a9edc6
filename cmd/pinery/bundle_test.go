package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/transport/fleettest"

	"filippo.io/age"

	"github.com/pinery/pinery/engine/backend/pgtest"
)

// pinery runs the CLI in-process and returns its output and exit code.
func pinery(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	g := &globals{stdout: &out, stderr: &out, stdin: strings.NewReader("")}
	root := newRoot(g)
	root.SetArgs(args)
	code := 0
	if err := root.Execute(); err != nil {
		if ee, ok := err.(exitError); ok {
			code = ee.code
		} else {
			out.WriteString("Error: " + err.Error() + "\n")
			code = 1
		}
	}
	return out.String(), code
}

// TestBundleAndPullLocally bundles a site for a local host, pulls it on
// this machine into a scratch directory, and checks secrets, refusals and
// the report, without the fleet.
func TestBundleAndPullLocally(t *testing.T) {
	fleettest.LocalHostLock(t) // pulls apply to this machine, whose lock other packages' tests share
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	write("board.key", id.String()+"\n")
	write("site/main.hcl", `
variable "greeting" { type = string }
variable "token" {
  type      = string
  sensitive = true
}
file "greeting" {
  path    = "`+out+`"
  content = "${var.greeting} ${var.token}\n"
}`)
	write("site/.git/config", "not bundled")
	write("site/old.hcl.age", "not bundled")
	write("inv.hcl", `host "box" {
  connection = "local"
  vars = { age_recipient = "`+id.Recipient().String()+`" }
}
host "nokey" { connection = "local" }
`)
	for _, k := range []string{"sign", "other"} {
		if b, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k+".key")).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, b)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	srv := pgtest.Start(t)
	db := srv.NewDB(t)
	const token = "tok-Secr3t-value"

	got, code := pinery(t, "bundle", "-i", p("inv.hcl"), "-l", "box", "--signing-key", p("sign.key"), "--var", "greeting=Hi",
		"--var", "token="+token, "--version", "2", "-o", p("b.tar.gz"), p("site"))
	if code != 0 || !strings.Contains(got, "Bundle 2 for box: 4 files") {
		t.Fatalf("bundle: %d\n%s", code, got)
	}
	raw, _ := os.ReadFile(p("b.tar.gz"))
	if bytes.Contains(raw, []byte(token)) || strings.Contains(got, token) {
		t.Error("the sensitive value is in the bundle or the output in clear")
	}
	pull := func(bundle string, extra ...string) (string, int) {
		return pinery(t, append([]string{"pull", "--trusted-key", p("sign.key.pub"), "--state-dir", p("state"),
			"--age-identity", p("board.key"), "--backend", db, bundle}, extra...)...)
	}
	got, code = pull(p("b.tar.gz"))
	if code != 0 || !strings.Contains(got, "box: file.greeting changed") || !regexpMatch(`(?m)^Reported as run \d+ to the backend \(pinery status\)\.$`, got) {
		t.Fatalf("pull: %d\n%s", code, got)
	}
	if b, _ := os.ReadFile(out); string(b) != "Hi "+token+"\n" {
		t.Errorf("pulled file: %q", b)
	}
	if strings.Contains(got, token) {
		t.Error("pull shows the sensitive value")
	}
	if got, code = pull("file://" + p("b.tar.gz")); code != 0 || !strings.Contains(got, "No changes.") {
		t.Errorf("second pull: %d\n%s", code, got)
	}

	// Refused: no key for the secrets, another signer, an older bundle.
	got, code = pinery(t, "bundle", "-i", p("inv.hcl"), "-l", "nokey", "--signing-key", p("sign.key"), "--var", "greeting=Hi",
		"--var", "token="+token, "-o", p("nokey.tar.gz"), p("site"))
	if code != 0 || !strings.Contains(got, "Note: the values of the sensitive variables token are left out: nokey has no age_recipient") {
		t.Errorf("bundle without a recipient: %d\n%s", code, got)
	}
	if raw, _ := os.ReadFile(p("nokey.tar.gz")); bytes.Contains(raw, []byte(token)) {
		t.Error("a left-out secret is in the bundle")
	}
	pinery(t, "bundle", "-i", p("inv.hcl"), "-l", "box", "--signing-key", p("other.key"), "--var", "greeting=Bye", "--var", "token=x", "-o", p("other.tar.gz"), p("site"))
	if got, code = pull(p("other.tar.gz")); code != 1 || !strings.Contains(got, "not signed by a trusted key") {
		t.Errorf("other key: %d\n%s", code, got)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
	pinery(t, "bundle", "-i", p("inv.hcl"), "-l", "box", "--signing-key", p("sign.key"), "--var", "greeting=Old", "--var", "token=x", "-o", p("old.tar.gz"), p("site"))
	if got, code = pull(p("old.tar.gz")); code != 1 || !strings.Contains(got, "older than the bundle applied last, 2") {
		t.Errorf("older: %d\n%s", code, got)
	}
	if b, _ := os.ReadFile(out); string(b) != "Hi "+token+"\n" {
		t.Errorf("a refused bundle changed the file: %q", b)
	}
	if got, code = pull(p("old.tar.gz"), "--allow-downgrade"); code != 0 || !strings.Contains(got, "box: file.greeting changed") {
		t.Errorf("--allow-downgrade: %d\n%s", code, got)
	}

	got, code = pinery(t, "status", "--backend", db, "-i", p("inv.hcl"), p("site"))
	if code != 0 || !regexpMatch(`(?m)^box +pull \d+ .* 2001\S*|^box +pull \d+ +\S+ \S+ +20010909T014640Z-\w+ +converged +1 `, got) ||
		!regexpMatch(`(?m)^nokey +never reported`, got) {
		t.Errorf("status: %d\n%s", code, got)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
