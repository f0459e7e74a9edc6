package homeserver_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	_ "github.com/pinery/pinery/modules/all"
	"github.com/pinery/pinery/states/statestest"
)

// The homeserver role evaluated for boards of several sizes, as the engine
// does for a host, without contacting any: the memory model of
// docs/roles/homeserver.md. cmd/pinery/testdata/e2e/homeserver.txtar runs
// the role on the fleet.

const key = "ed25519 a_t TH4Jy2mmjiGCZloXS0zY3OU4pPOCvW0CRCHwdeSqhvI"

// memory is the role's `memory` output.
type memory struct {
	SynapseMax  int     `json:"synapse_max_mb"`
	SynapseHigh int     `json:"synapse_high_mb"`
	PostgresMax int     `json:"postgres_max_mb"`
	OS          int     `json:"os_mb"`
	CacheFactor float64 `json:"cache_factor"`
}

// evalRole evaluates the role with the given extra inputs (HCL) for a board
// with memoryMB of RAM: its memory output and the content of each file it
// would write, by address; or the error diagnostics.
func evalRole(t *testing.T, memoryMB int, inputs string) (memory, map[string]string, string) {
	t.Helper()
	// The required inputs, unless inputs sets them.
	for _, req := range []string{`server_name = "example.org"`, `signing_key = "` + key + `"`, `index_url = "http://10.0.0.2/wheels/simple/"`} {
		if !strings.Contains(inputs, strings.Fields(req)[0]+" =") {
			inputs += "\n" + req
		}
	}
	src := `role "hs" {
  source = "homeserver"
  inputs = {
` + inputs + `
  }
}

file "memory" {
  path    = "/tmp/memory.json"
  content = jsonencode(role.hs.memory)
}
`
	res, errs := statestest.Eval(t, src, statestest.Board{Cores: 6, MemoryMB: memoryMB})
	if errs != "" {
		return memory{}, nil, errs
	}
	files := map[string]string{}
	var out memory
	for _, n := range res.Nodes {
		c, ok := n.Config.Values["content"]
		if !ok || c.IsNull() {
			continue
		}
		c, _ = c.UnmarkDeep()
		files[n.Addr()] = c.AsString()
		if n.Addr() == "file.memory" {
			if err := json.Unmarshal([]byte(c.AsString()), &out); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out, files, ""
}

// TestMemorySizing checks the table of docs/roles/homeserver.md (2, 4 and
// 8 GB boards) against the role, the bounds of the cache factor, and that
// the units and homeserver.yaml say what the output says.
func TestMemorySizing(t *testing.T) {
	type row struct {
		memoryMB int
		inputs   string
		want     memory
	}
	var rows []row
	for _, r := range docTable(t) {
		rows = append(rows, row{int(r[0]), "", memory{int(r[1]), int(r[2]), int(r[4]), int(r[5]), r[3]}})
	}
	if len(rows) != 3 {
		t.Fatalf("docs/roles/homeserver.md has %d sizing rows, want 3 (2, 4 and 8 GB)", len(rows))
	}
	rows = append(rows,
		// A 4 GB RockPro64's MemTotal: 3875 × 0.45 = 1743.75; 1743 × 0.9 =
		// 1568.7; 1743 / 4096 × 20 = 8.5 → 8 → 0.4; 3875 × 0.2 = 775.
		row{3875, "", memory{1743, 1568, 775, 1357, 0.4}},
		// 1 GB: 460 / 4096 × 20 = 2.2 → 0.1 (the floor).
		row{1024, "", memory{460, 414, 204, 360, 0.1}},
		// 32 GB: 14745 / 4096 × 20 = 71.99 → 3.55 → 2 (the ceiling).
		row{32768, "", memory{14745, 13270, 6553, 11470, 2}},
		// Shares and an explicit cache factor.
		row{4096, "postgres_share = 0.3\nsynapse_share = 0.5\ncache_factor = 0.75", memory{2048, 1843, 1228, 820, 0.75}},
	)
	for _, r := range rows {
		t.Run(strconv.Itoa(r.memoryMB)+" "+strings.ReplaceAll(r.inputs, "\n", " "), func(t *testing.T) {
			got, files, errs := evalRole(t, r.memoryMB, r.inputs)
			if errs != "" {
				t.Fatal(errs)
			}
			if got != r.want {
				t.Fatalf("memory\n got %+v\nwant %+v", got, r.want)
			}
			if sum := got.SynapseMax + got.PostgresMax + got.OS; sum != r.memoryMB {
				t.Errorf("synapse + postgres + os = %d, board has %d", sum, r.memoryMB)
			}
			want := map[string][]string{
				"role.hs.systemd_unit.synapse":        {"\nMemoryMax=" + strconv.Itoa(got.SynapseMax) + "M\n", "\nMemoryHigh=" + strconv.Itoa(got.SynapseHigh) + "M\n"},
				"role.hs.role.db.systemd_unit.memory": {"\nMemoryMax=" + strconv.Itoa(got.PostgresMax) + "M\n"},
				"role.hs.file.config":                 {"\n  global_factor: " + strconv.FormatFloat(got.CacheFactor, 'f', -1, 64) + "\n"},
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

// More than 0.8 of the board for Synapse and PostgreSQL is refused, and so
// is a signing key that is not one.
func TestBadInputs(t *testing.T) {
	for _, c := range []struct{ inputs, want string }{
		{"postgres_share = 0.4\nsynapse_share = 0.5", "postgres_share + synapse_share is more than 0.8"},
		{"server_name = \"bad name\"", "server_name is a DNS name"},
		{"public_baseurl = \"matrix.example.org\"", "public_baseurl is an http:// or https:// URL"},
		{"registration_shared_secret = \"short\"", "registration_shared_secret is 16 to 256"},
	} {
		_, _, errs := evalRole(t, 4096, c.inputs)
		if !strings.Contains(errs, c.want) {
			t.Errorf("%s: want an error with %q, got %q", c.inputs, c.want, errs)
		}
		if strings.Contains(errs, "TH4Jy2mm") {
			t.Errorf("%s: the signing key shows in %q", c.inputs, errs)
		}
	}
}

// The signing key must be a key: it is checked before anything is written.
func TestBadSigningKey(t *testing.T) {
	_, _, errs := evalRole(t, 4096, `signing_key = "ed25519 a_x notbase64!"`)
	if !strings.Contains(errs, "signing_key is one line") {
		t.Fatalf("want the signing_key error, got %q", errs)
	}
	if strings.Contains(errs, "notbase64") {
		t.Fatalf("the (sensitive) key shows in the error: %q", errs)
	}
}

// docTable reads the sizing table of docs/roles/homeserver.md:
// memory_mb, Synapse MemoryMax and MemoryHigh, cache factor, PostgreSQL
// MemoryMax, left to the OS.
func docTable(t *testing.T) [][6]float64 {
	t.Helper()
	var out [][6]float64
	for _, m := range statestest.DocRows(t, "homeserver", regexp.MustCompile(`^\| (\d+) \| (\d+)M \| (\d+)M \| ([0-9.]+) \| (\d+)M \| (\d+)M \|$`)) {
		var r [6]float64
		for i := range r {
			r[i], _ = strconv.ParseFloat(m[i], 64)
		}
		out = append(out, r)
	}
	return out
}

// Sizing for more RAM than the board has is a warning (the role's check);
// the budget output is Synapse's and PostgreSQL's MemoryMax.
func TestMemoryCheck(t *testing.T) {
	src := func(memoryMB string) string {
		return `role "hs" {
  source = "homeserver"
  inputs = {
    server_name = "example.org"
    signing_key = "` + key + `"
    index_url   = "http://10.0.0.2/wheels/simple/"
    memory_mb   = ` + memoryMB + `
  }
}

file "budget" {
  path    = "/tmp/budget"
  content = "${role.hs.memory_budget_mb}"
}
`
	}
	for _, tc := range []struct {
		memory, want string
		budget       string
	}{
		// floor(M * 0.45) + floor(M * 0.2), the default shares
		{"null", "", "2496"},
		{"2048", "", "1330"},
		{"8000", "memory_mb is 8000 MiB, more than this board's 3842 MiB", "5200"},
	} {
		res, errs := statestest.Eval(t, src(tc.memory), statestest.Board{Cores: 4, MemoryMB: 3842})
		if errs != "" {
			t.Fatalf("memory_mb %s: %s", tc.memory, errs)
		}
		got := strings.Join(res.Warnings, "\n")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("memory_mb %s: warnings %q, want %q", tc.memory, got, tc.want)
		}
		if b := statestest.Field(res.Node("file.budget"), "content"); b != tc.budget {
			t.Errorf("memory_mb %s: budget %s, want %s", tc.memory, b, tc.budget)
		}
	}
}
