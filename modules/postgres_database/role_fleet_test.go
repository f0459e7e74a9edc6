package postgresdatabase_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport/fleettest"
	"github.com/pinery/pinery/modules/internal/psql/psqltest"
	"github.com/pinery/pinery/states/statestest"
)

// buildPinery builds the CLI, which links every module.
func buildPinery(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pinery")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/pinery")
	cmd.Dir = repoDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// repoDir is the repository's root.
func repoDir() string { return filepath.Dir(statestest.Library()) }

// TestFleetRole applies the postgres role of the state library with the
// CLI on h3 (amd64), as a site would: PostgreSQL installed and sized from
// h3's memory, Synapse's role and database, a second apply that changes
// nothing, a pg_hba change that reloads, and a memory change that
// restarts. The role is read from states/ on disk (PINERY_STATES).
func TestFleetRole(t *testing.T) {
	fleet := fleettest.Dir(t)
	h := fleettest.Dial(t, "h3") // holds the fleet lock for the CLI runs too
	if out := resourcetest.Run(t, h, "command -v psql || :"); out != "" {
		t.Fatalf("h3 has PostgreSQL already (%s): an earlier test did not clean up", strings.TrimSpace(out))
	}
	psqltest.PurgeAfter(t, h)
	bin := buildPinery(t)

	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "main.hcl"), []byte(`
variable "password" {
  type      = string
  sensitive = true
}
variable "share" {
  type    = number
  default = 0.25
}
variable "clients" {
  type    = list(string)
  default = []
}

role "pg" {
  source = "postgres"
  inputs = {
    memory_share    = var.share
    allowed_clients = var.clients
    roles           = { pinery_synapse = { password = var.password } }
    databases       = { pinery_synapse = { owner = "pinery_synapse", lc_collate = "C", lc_ctype = "C" } }
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	const password = "Synapse-DB-Secret-4711"
	home := t.TempDir()
	cli := func(wantExit int, args ...string) string {
		t.Helper()
		if args[0] != "facts" {
			args = append(args, site)
		}
		cmd := exec.Command(bin, append(args, "-i", filepath.Join(fleet, "inventory.hcl"), "-l", "h3")...)
		cmd.Env = append(os.Environ(), "HOME="+home, "NO_COLOR=1", "PINERY_STATES="+filepath.Join(repoDir(), "states"), "PINERY_VAR_password="+password)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("pinery %s: exit %d in %s", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond))
		if code != wantExit {
			t.Fatalf("pinery %s: exit %d, want %d\n%s", strings.Join(args, " "), code, wantExit, out.String())
		}
		if strings.Contains(out.String(), password) || strings.Contains(out.String(), "SCRAM-SHA-256$") {
			t.Fatalf("pinery %s shows the password or its verifier:\n%s", strings.Join(args, " "), out.String())
		}
		return out.String()
	}
	query := func(sql string) string { return strings.TrimSpace(psqltest.Query(t, h, sql)) }
	startTime := func() string { return query("SELECT pg_postmaster_start_time()") }

	// What the role computes for h3, by the same evaluation the sizing
	// test checks against the docs.
	var facts map[string]map[string]string
	if err := json.Unmarshal([]byte(cli(0, "facts", "--json")), &facts); err != nil {
		t.Fatal(err)
	}
	memoryMB, err := strconv.Atoi(facts["h3"]["memory_mb"])
	if err != nil {
		t.Fatalf("memory_mb of h3: %v", err)
	}

	// First apply: PostgreSQL is not there while planning.
	out := cli(0, "apply", "--auto-approve")
	for _, want := range []string{`postgresql: "not running yet: known after apply"`, "password: (sensitive)", "restarted", `role.pg.postgres_database.database["pinery_synapse"] changed`} {
		if !strings.Contains(out, want) {
			t.Fatalf("first apply lacks %q:\n%s", want, out)
		}
	}
	want, _, _ := evalRole(t, memoryMB, "")
	if got := query("SHOW shared_buffers"); got != strconv.Itoa(want.SharedBuffers)+"MB" {
		t.Errorf("shared_buffers %s, want %dMB (memory_mb %d)", got, want.SharedBuffers, memoryMB)
	}
	if got := query("SHOW work_mem"); got != strconv.Itoa(want.WorkMem)+"MB" {
		t.Errorf("work_mem %s, want %dMB", got, want.WorkMem)
	}
	if got := query("SHOW max_connections"); got != "50" {
		t.Errorf("max_connections %s", got)
	}
	if got := strings.TrimSpace(resourcetest.Run(t, h, "systemctl show -p MemoryMax --value postgresql@15-main")); got != strconv.Itoa(want.MemoryMax<<20) {
		t.Errorf("MemoryMax=%s, want %d MiB", got, want.MemoryMax)
	}
	if got := query("SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'pinery_synapse'"); got != "UTF8|C|C|pinery_synapse" {
		t.Errorf("database: %q", got)
	}
	res, err := h.Run(context.Background(), "PGPASSWORD="+password+" psql -X -At 'host=127.0.0.1 dbname=pinery_synapse user=pinery_synapse' -c 'SELECT current_user' 2>&1", nil)
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != "pinery_synapse" {
		t.Errorf("login as pinery_synapse: %s %v", res.Stdout, err)
	}

	// Nothing to do the second time, in one quick plan.
	if out := cli(0, "plan", "--detailed-exitcode"); !strings.Contains(out, "no changes") {
		t.Fatalf("second plan:\n%s", out)
	}

	// pg_hba.conf changes: a reload, no restart.
	started := startTime()
	out = cli(0, "apply", "--auto-approve", "--var", `clients=["10.231.0.0/24"]`)
	if !strings.Contains(out, "role.pg.service.reload changed: reloaded") || strings.Contains(out, "restarted") {
		t.Fatalf("a pg_hba change should reload only:\n%s", out)
	}
	if got := query("SELECT count(*) FROM pg_hba_file_rules WHERE address = '10.231.0.0' AND auth_method = 'scram-sha-256'"); got != "1" || startTime() != started {
		t.Fatalf("after the reload: %s rules, start time %s → %s", got, started, startTime())
	}

	// A smaller share: shared_buffers needs a restart, and gets one.
	out = cli(0, "apply", "--auto-approve", "--var", `clients=["10.231.0.0/24"]`, "--var", "share=0.2")
	if !strings.Contains(out, "role.pg.service.restart changed: restarted") {
		t.Fatalf("a memory change should restart:\n%s", out)
	}
	want, _, _ = evalRole(t, memoryMB, "memory_share = 0.2")
	if got := query("SHOW shared_buffers"); got != strconv.Itoa(want.SharedBuffers)+"MB" || startTime() == started {
		t.Errorf("after the restart: shared_buffers %s, want %dMB; start time %s", got, want.SharedBuffers, startTime())
	}
	if got := strings.TrimSpace(resourcetest.Run(t, h, "systemctl show -p MemoryMax --value postgresql@15-main")); got != strconv.Itoa(want.MemoryMax<<20) {
		t.Errorf("MemoryMax=%s, want %d MiB", got, want.MemoryMax)
	}
	cli(0, "plan", "--detailed-exitcode", "--var", `clients=["10.231.0.0/24"]`, "--var", "share=0.2")

	// Synapse's database survived the restarts.
	if got := query("SELECT count(*) FROM pg_database WHERE datname = 'pinery_synapse'"); got != "1" {
		t.Errorf("database count %s", got)
	}
}
