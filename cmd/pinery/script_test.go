package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pinery/pinery/engine/backend/pgtest"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pinery": func() { os.Exit(run(os.Args[1:])) },
	})
}

// TestScripts runs the CLI scripts that need no fleet.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") == "1",
		RequireExplicitExec: true,
		Setup:               setupEnv(t),
		Cmds:                scriptCmds,
	})
}

// TestE2E runs the CLI against the real test fleet (make test brings it up
// and sets PINERY_FLEET). Without a fleet it is skipped, saying so; with
// PINERY_E2E=1 a missing fleet is a failure.
func TestE2E(t *testing.T) {
	fleet := os.Getenv("PINERY_FLEET")
	if fleet == "" {
		if os.Getenv("PINERY_E2E") == "1" {
			t.Fatal("PINERY_E2E=1 but PINERY_FLEET is not set: run make test")
		}
		t.Skip("no test fleet (PINERY_FLEET unset); make test runs these")
	}
	if _, err := os.Stat(filepath.Join(fleet, "inventory.hcl")); err != nil {
		t.Fatalf("PINERY_FLEET=%s has no inventory.hcl: %v", fleet, err)
	}
	// The scripts share the fleet's hosts (and their apt locks), so they run
	// one after another; each may use every host.
	files, _ := filepath.Glob("testdata/e2e/*.txtar")
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			fleettest.Lock(t) // module tests of other packages use the hosts too
			setup := setupEnv(t)
			// A script that uses $PINERY_TEST_PG gets a fresh database on a
			// real PostgreSQL server started for it.
			if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte("$PINERY_TEST_PG")) {
				url := pgtest.Start(t).NewDB(t)
				setup = func(e *testscript.Env) error {
					e.Setenv("PINERY_TEST_PG", url)
					return setupEnv(t)(e)
				}
			}
			testscript.Run(t, testscript.Params{
				Files:               []string{f},
				RequireExplicitExec: true,
				Setup:               setup,
				Cmds:                scriptCmds,
			})
		})
	}
}

func setupEnv(t *testing.T) func(*testscript.Env) error {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return func(e *testscript.Env) error {
		e.Setenv("REPO", repo)
		e.Setenv("FLEET", os.Getenv("PINERY_FLEET"))
		e.Setenv("NO_COLOR", "1")
		e.Setenv("HOME", e.WorkDir)
		// Scripts that build pinery (the arm64 binary) share the caller's
		// caches, offline.
		for _, v := range []string{"GOCACHE", "GOMODCACHE"} {
			if out, err := exec.Command("go", "env", v).Output(); err == nil {
				e.Setenv(v, strings.TrimSpace(string(out)))
			}
		}
		e.Setenv("GOPROXY", "off")
		return nil
	}
}

// scriptCmds adds `exitcode N PROG ARGS...`: run PROG and require exit code
// N (testscript's ! accepts any failure; CI contracts need the exact code).
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 2 {
			ts.Fatalf("usage: exitcode N PROG [ARGS...]")
		}
		want, err := strconv.Atoi(args[0])
		ts.Check(err)
		err = ts.Exec(args[1], args[2:]...)
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			ts.Fatalf("%v", err)
		}
		if got != want {
			ts.Fatalf("exit code %d, want %d", got, want)
		}
	},
	// `agekeygen KEYFILE PUBFILE`: a fresh test identity, written as
	// age-keygen does, and its recipient.
	"agekeygen": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: agekeygen KEYFILE PUBFILE")
		}
		id, err := age.GenerateX25519Identity()
		ts.Check(err)
		rec := id.Recipient().String()
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte("# created by the test (a test-only key)\n# public key: "+rec+"\n"+id.String()+"\n"), 0o600))
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(rec+"\n"), 0o644))
	},
	// `ageencrypt PUBFILE IN OUT`: encrypt any file, unlike pinery secrets
	// encrypt which refuses a var file that does not parse.
	"ageencrypt": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 3 {
			ts.Fatalf("usage: ageencrypt PUBFILE IN OUT")
		}
		recs, err := age.ParseRecipients(strings.NewReader(ts.ReadFile(args[0])))
		ts.Check(err)
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, recs...)
		ts.Check(err)
		_, err = w.Write([]byte(ts.ReadFile(args[1])))
		ts.Check(err)
		ts.Check(w.Close())
		ts.Check(os.WriteFile(ts.MkAbs(args[2]), buf.Bytes(), 0o644))
	},
}
