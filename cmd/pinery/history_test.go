package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/engine/backend/pgtest"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// The CLI on the PostgreSQL backend (the fleet scripts use the default
// SQLite): apply records its run, history lists and shows it, a site lock
// held elsewhere refuses an apply naming its holder, unlock --site breaks
// it; neither the database password nor a sensitive value is ever printed.
// The site is applied to the controller itself (connection = "local"), in
// a temporary directory.
func TestPostgresBackendCLI(t *testing.T) {
	fleettest.LocalHostLock(t) // the local host's lock is shared with other packages' tests
	srv := pgtest.Start(t)
	url := srv.NewDB(t)
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	inv := filepath.Join(dir, "inventory.hcl")
	os.MkdirAll(site, 0o755)
	os.WriteFile(filepath.Join(site, "main.hcl"), []byte(fmt.Sprintf(`
variable "token" {
  type      = string
  sensitive = true
}
file "a" {
  path    = %q
  content = "token=${var.token}\n"
}
`, filepath.Join(dir, "a"))), 0o644)
	os.WriteFile(inv, []byte(`host "ctl" { connection = "local" }`+"\n"), 0o644)
	t.Setenv("PINERY_BACKEND", url)
	const secret = "t0ken-never-shown"

	var outputs []string
	cli := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader("")}
		root := newRoot(g)
		root.SetArgs(args)
		defer func(a []string) { os.Args = a }(os.Args)
		os.Args = append([]string{"pinery"}, args...) // recorded as the command line
		code := 0
		var ee exitError
		if err := root.Execute(); errors.As(err, &ee) {
			code = ee.code
		} else if err != nil {
			code = 1
			fmt.Fprintln(&errb, "Error:", err)
		}
		outputs = append(outputs, out.String(), errb.String())
		if code != wantCode {
			t.Fatalf("pinery %s: exit code %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}

	out, _ := cli(0, "apply", "-i", inv, "--auto-approve", "--var", "token="+secret, site)
	if !strings.Contains(out, "Recorded as run 1: pinery history show 1 "+site) {
		t.Errorf("apply did not say which run it recorded:\n%s", out)
	}
	out, _ = cli(0, "history", site)
	if !strings.Contains(out, "1    ") || !strings.Contains(out, "converged  1 host, 1 changed") {
		t.Errorf("history:\n%s", out)
	}
	out, _ = cli(0, "history", "show", "1", "--json", site)
	var run jsonRun
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatalf("history show --json: %v\n%s", err, out)
	}
	if run.Outcome != "converged" || len(run.Hosts) != 1 || run.Hosts[0].Host != "ctl" || run.Hosts[0].Resources == nil ||
		len(*run.Hosts[0].Resources) != 1 || (*run.Hosts[0].Resources)[0].Address != "file.a" || run.Ended == nil ||
		!strings.Contains(run.Command, "--var='token=(sensitive)'") {
		t.Errorf("history show --json:\n%s", out)
	}

	// Another machine holds the site lock.
	ctx := context.Background()
	b, err := backend.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id, err := backend.SiteOf(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if run.Site != id.ID {
		t.Errorf("recorded site %q, want %q", run.Site, id.ID)
	}
	held, err := b.Lock(ctx, id.ID, backend.Holder{User: "ci", Machine: "runner7", PID: 42, Command: "pinery apply other"})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx) // keeps its connection from the garbage collector until unlock ends it
	_, stderr := cli(exitNotApplied, "apply", "-i", inv, "--auto-approve", "--var", "token=changed-"+secret, site)
	if !strings.Contains(stderr, "Error: site locked by another run: ci@runner7 pid 42 since ") || !strings.Contains(stderr, "running: pinery apply other; wait for it") {
		t.Errorf("locked apply:\n%s", stderr)
	}
	out, _ = cli(0, "unlock", "--site", "--backend", url, site)
	if want := "site " + id.ID + ": broke the lock of ci@runner7 pid 42 since "; !strings.HasPrefix(out, want) {
		t.Errorf("unlock --site: %q, want %q...", out, want)
	}
	out, _ = cli(0, "apply", "-i", inv, "--auto-approve", "--var", "token=changed-"+secret, site)
	if !strings.Contains(out, "Recorded as run 2") {
		t.Errorf("apply after unlock:\n%s", out)
	}

	// A wrong password is reported without it.
	bad := strings.Replace(url, pgtest.Password, "wrong-"+pgtest.Password, 1)
	cli(1, "history", "--backend", bad, site)

	for _, o := range outputs {
		for _, s := range []string{secret, pgtest.Password} {
			if strings.Contains(o, s) {
				t.Errorf("output shows %q:\n%s", s, o)
			}
		}
	}
}
