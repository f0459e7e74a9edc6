package postgresdatabase_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	_ "github.com/pinery/pinery/modules/all"
	_ "github.com/pinery/pinery/modules/postgres_database"
	_ "github.com/pinery/pinery/modules/postgres_role"
	"github.com/pinery/pinery/states/statestest"
)

// The postgres role of the state library (states/postgres), tested here:
// its memory sizing by evaluating it for boards of several sizes, and the
// whole role applied by the CLI on a fleet host (role_fleet_test.go).

// settings is the role's `settings` output, and what its files say.
type settings struct {
	MemoryMax          int `json:"memory_max_mb"`
	SharedBuffers      int `json:"shared_buffers_mb"`
	EffectiveCacheSize int `json:"effective_cache_size_mb"`
	WorkMem            int `json:"work_mem_mb"`
	MaintenanceWorkMem int `json:"maintenance_work_mem_mb"`
	MaxConnections     int `json:"max_connections"`
}

// evalRole evaluates a site that includes the postgres role (with the
// given inputs, HCL) for a board with memoryMB of RAM, as the engine does
// for a host, without contacting any: it returns the role's settings
// output and the content of each file it would write, by address.
func evalRole(t *testing.T, memoryMB int, inputs string) (settings, map[string]string, statestest.Result) {
	t.Helper()
	src := `role "pg" {
  source = "postgres"
  inputs = {` + inputs + `}
}

file "settings" {
  path    = "/tmp/settings.json"
  content = jsonencode(role.pg.settings)
}
`
	g, errs := statestest.Eval(t, src, statestest.Board{MemoryMB: memoryMB})
	if errs != "" {
		t.Fatal(errs)
	}
	files := map[string]string{}
	var out settings
	for _, n := range g.Nodes {
		c, ok := n.Config.Values["content"]
		if !ok || c.IsNull() {
			continue
		}
		files[n.Addr()] = c.AsString()
		if n.Addr() == "file.settings" {
			if err := json.Unmarshal([]byte(c.AsString()), &out); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out, files, g
}

// TestRoleMemorySizing checks the table of docs/roles/postgres.md against
// the role itself, and the bounds of work_mem and maintenance_work_mem,
// and that the files the role writes say what its output says.
func TestRoleMemorySizing(t *testing.T) {
	type row struct {
		memoryMB int
		inputs   string
		want     settings
	}
	var rows []row
	for _, r := range docTable(t) {
		rows = append(rows, row{r[0], "", settings{r[1], r[2], r[3], r[4], r[5], 50}})
	}
	if len(rows) != 3 {
		t.Fatalf("docs/roles/postgres.md has %d sizing rows, want 3 (2, 4 and 8 GB)", len(rows))
	}
	// Bounds, computed by hand from the formulas.
	rows = append(rows,
		// 512 × 0.25 = 128: work_mem 128 / 150 < 1 → 1.
		row{512, "", settings{128, 32, 96, 1, 16, 50}},
		// 3875 (a 4 GB board's MemTotal) × 0.3 = 1162.5 → 1162; 1162 / 60 = 19.
		row{3875, "memory_share = 0.3, max_connections = 20", settings{1162, 290, 871, 19, 145, 20}},
		// 65536 × 0.5 = 32768: work_mem 32768 / 15 → 64 at most; maintenance 4096 → 256.
		row{65536, "memory_share = 0.5, max_connections = 5", settings{32768, 8192, 24576, 64, 256, 5}},
	)
	for _, r := range rows {
		t.Run(strconv.Itoa(r.memoryMB)+" "+r.inputs, func(t *testing.T) {
			got, files, _ := evalRole(t, r.memoryMB, r.inputs)
			if got != r.want {
				t.Fatalf("settings\n got %+v\nwant %+v", got, r.want)
			}
			want := map[string][]string{
				"role.pg.file.restart_settings": {"shared_buffers = " + strconv.Itoa(got.SharedBuffers) + "MB\n", "max_connections = " + strconv.Itoa(got.MaxConnections) + "\n"},
				"role.pg.file.settings": {"effective_cache_size = " + strconv.Itoa(got.EffectiveCacheSize) + "MB\n",
					"work_mem = " + strconv.Itoa(got.WorkMem) + "MB\n", "maintenance_work_mem = " + strconv.Itoa(got.MaintenanceWorkMem) + "MB\n"},
				"role.pg.systemd_unit.memory": {"MemoryMax=" + strconv.Itoa(got.MemoryMax) + "M\n"},
			}
			for addr, lines := range want {
				for _, l := range lines {
					if !strings.Contains(files[addr], l) {
						t.Errorf("%s lacks %q:\n%s", addr, l, files[addr])
					}
				}
			}
		})
	}
}

// docTable reads the sizing table of docs/roles/postgres.md: memory_mb,
// then the five settings in MiB.
func docTable(t *testing.T) [][6]int {
	t.Helper()
	var out [][6]int
	for _, m := range statestest.DocRows(t, "postgres", regexp.MustCompile(`^\| (\d+) \| (\d+)M \| (\d+)MB \| (\d+)MB \| (\d+)MB \| (\d+)MB \|$`)) {
		var r [6]int
		for i := range r {
			r[i], _ = strconv.Atoi(m[i])
		}
		out = append(out, r)
	}
	return out
}

// Roles and databases given as maps become resources, databases after
// roles, with the postgres_* defaults for what an entry leaves out; and
// allowed_clients become pg_hba.conf lines after Debian's.
func TestRoleMaps(t *testing.T) {
	_, files, g := evalRole(t, 4096, `
    roles           = { synapse = { password = "x" }, metrics = { login = false, connection_limit = 2 } }
    databases       = { synapse = { owner = "synapse", lc_collate = "C", lc_ctype = "C" } }
    allowed_clients = ["10.231.0.0/24", "10.9.0.7/32"]
`)
	pos := map[string]int{}
	got := map[string]string{}
	for i, n := range g.Nodes {
		pos[n.Addr()] = i
		var vals []string
		for _, f := range []string{"name", "login", "connection_limit", "owner", "encoding", "lc_collate", "template"} {
			if v, ok := n.Config.Values[f]; ok && !v.IsNull() {
				switch v.Type() {
				case cty.String:
					vals = append(vals, f+"="+v.AsString())
				case cty.Bool:
					vals = append(vals, f+"="+strconv.FormatBool(v.True()))
				case cty.Number:
					vals = append(vals, f+"="+v.AsBigFloat().String())
				}
			}
		}
		got[n.Addr()] = strings.Join(vals, " ")
	}
	want := map[string]string{
		`role.pg.postgres_role.role["synapse"]`:         "name=synapse login=true connection_limit=-1",
		`role.pg.postgres_role.role["metrics"]`:         "name=metrics login=false connection_limit=2",
		`role.pg.postgres_database.database["synapse"]`: "name=synapse owner=synapse encoding=UTF8 lc_collate=C template=template0",
	}
	for addr, w := range want {
		if got[addr] != w {
			t.Errorf("%s: %q, want %q", addr, got[addr], w)
		}
	}
	for _, before := range []string{`role.pg.postgres_role.role["synapse"]`, `role.pg.postgres_role.role["metrics"]`, "role.pg.wait_for.ready", "role.pg.service.restart"} {
		if pos[before] >= pos[`role.pg.postgres_database.database["synapse"]`] {
			t.Errorf("%s does not come before the database", before)
		}
	}
	if !g.Nodes[pos[`role.pg.postgres_role.role["synapse"]`]].Config.Sensitive["password"] {
		t.Error("the role's password is not sensitive")
	}
	for _, l := range []string{"host    all             all             10.231.0.0/24    scram-sha-256\n", "10.9.0.7/32    scram-sha-256\n", "host    all             all             127.0.0.1/32            scram-sha-256\n"} {
		if !strings.Contains(files["role.pg.file.hba"], l) {
			t.Errorf("pg_hba.conf lacks %q:\n%s", l, files["role.pg.file.hba"])
		}
	}
}

// A password from a sensitive variable makes the whole roles map sensitive
// when it enters the role; the role still names its instances by the map's
// keys (not secret) and keeps the values sensitive.
func TestRoleSensitivePassword(t *testing.T) {
	res, errs := statestest.Eval(t, `
variable "pw" {
  type      = string
  sensitive = true
  default   = "hunter2-pg"
}
role "pg" {
  source = "postgres"
  inputs = { roles = { synapse = { password = var.pw } }, databases = { synapse = { owner = "synapse" } } }
}
`, statestest.Board{MemoryMB: 4096})
	if errs != "" {
		t.Fatal(errs)
	}
	n := res.Node(`role.pg.postgres_role.role["synapse"]`)
	if n == nil || !n.Config.IsSensitive("password") {
		t.Fatalf("role instance %v: missing, or its password not sensitive", n)
	}
	if res.Node(`role.pg.postgres_database.database["synapse"]`) == nil {
		t.Fatal("database instance missing")
	}
}
