package render_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/eval"
	_ "github.com/pinery/pinery/modules/all"
	"github.com/pinery/pinery/states/statestest"
)

// The render role (and the broker role it includes for a small site),
// evaluated for boards of several sizes as the engine does for a host,
// without contacting any. The e2e script cmd/pinery/testdata/e2e/render.txtar
// runs both roles on the fleet.

const template = `{ welcome = "Subject: Hi $name\n\nHello $name.\n" }`

// board is a host of the test inventory: board1 10.0.0.1, board2 10.0.0.2.
type board struct {
	name     string
	cores    int
	memoryMB int
}

// evalSite evaluates a site (main.hcl) for one board and returns the
// nodes by address, and the diagnostics when there are errors.
func evalSite(t *testing.T, src string, b board) (map[string]*eval.Node, string) {
	t.Helper()
	addr := map[string]string{"board1": "10.0.0.1", "board2": "10.0.0.2"}
	others := map[string]string{}
	for n, a := range addr {
		if n != b.name {
			others[n] = a
		}
	}
	res, errs := statestest.Eval(t, src, statestest.Board{Name: b.name, Address: addr[b.name], IPv4: "192.168.1.9",
		Cores: b.cores, MemoryMB: b.memoryMB, Others: others})
	if errs != "" {
		return nil, errs
	}
	nodes := map[string]*eval.Node{}
	for _, n := range res.Nodes {
		nodes[n.Addr()] = n
	}
	return nodes, ""
}

// field is a node's string field, sensitive or not ("" when unset).
func field(n *eval.Node, name string) string {
	if n == nil {
		return ""
	}
	v, _ := n.Config.Values[name].UnmarkDeep()
	if v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func renderSite(inputs string) string {
	return `role "render" {
  source = "render"
  inputs = {
    message_id_domain = "example.org"
    templates         = ` + template + `
` + inputs + `
  }
}
`
}

var (
	concurrencyRe = regexp.MustCompile(`--concurrency (\d+) --max-memory-per-child (\d+)`)
	memoryMaxRe   = regexp.MustCompile(`(?m)^MemoryMax=(\d+)M$`)
)

// sizing reads the pool size, the per-process limit (KiB) and the unit's
// MemoryMax (MiB) from the unit the role writes.
func sizing(t *testing.T, nodes map[string]*eval.Node) (conc, childKiB, memoryMax int) {
	t.Helper()
	unit := field(nodes["role.render.systemd_unit.worker"], "content")
	m, mm := concurrencyRe.FindStringSubmatch(unit), memoryMaxRe.FindStringSubmatch(unit)
	if m == nil || mm == nil {
		t.Fatalf("unit without --concurrency or MemoryMax:\n%s", unit)
	}
	conc, _ = strconv.Atoi(m[1])
	childKiB, _ = strconv.Atoi(m[2])
	memoryMax, _ = strconv.Atoi(mm[1])
	return
}

// TestSizing checks the table of docs/roles/render.md against the role,
// and the bounds of the formula.
func TestSizing(t *testing.T) {
	type row struct {
		b            board
		brokerHere   bool
		inputs       string
		conc, memMax int
	}
	var rows []row
	for _, r := range docTable(t) {
		rows = append(rows, row{board{"board1", r.cores, r.memoryMB}, r.broker, "", r.conc, r.memMax})
	}
	if len(rows) < 5 {
		t.Fatalf("docs/roles/render.md has %d sizing rows, want at least 5", len(rows))
	}
	rows = append(rows,
		// Given: taken as it is, whatever the board.
		row{board{"board1", 4, 960}, false, "concurrency = 8", 8, 9 * 128},
		// (8000 - 1000) / 256 = 27, 8 cores: 8.
		row{board{"board1", 8, 8000}, false, "reserve_mb = 1000, process_mb = 256", 8, 9 * 256},
		// (2000 - 1500) / 200 = 2.5: 2 of 4 cores.
		row{board{"board1", 4, 2000}, false, "reserve_mb = 1500, process_mb = 200", 2, 3 * 200},
	)
	for _, r := range rows {
		t.Run(strconv.Itoa(r.b.memoryMB)+"MB/"+strconv.Itoa(r.b.cores)+"cores/"+r.inputs, func(t *testing.T) {
			broker := `broker = { url = "redis://:pw@10.0.0.5:6379/0" }`
			if r.brokerHere {
				broker = `broker = { host = "board1", password = "0123456789abcdef" }`
			}
			nodes, errs := evalSite(t, renderSite(broker+"\n"+r.inputs), r.b)
			if errs != "" {
				t.Fatal(errs)
			}
			conc, child, memMax := sizing(t, nodes)
			if conc != r.conc || memMax != r.memMax {
				t.Errorf("concurrency %d, MemoryMax %dM; want %d, %dM", conc, memMax, r.conc, r.memMax)
			}
			process := memMax / (conc + 1)
			if child != process*1024 {
				t.Errorf("--max-memory-per-child %d KiB, want %d (process_mb)", child, process*1024)
			}
		})
	}
}

type docRow struct {
	memoryMB, cores int
	broker          bool
	conc, memMax    int
}

// docTable reads the sizing table of docs/roles/render.md.
func docTable(t *testing.T) []docRow {
	t.Helper()
	var out []docRow
	for _, m := range statestest.DocRows(t, "render", regexp.MustCompile(`^\| (\d+) \| (\d+) \| (no|yes)[^|]* \| (\d+) \| (\d+)M \|$`)) {
		var r docRow
		r.memoryMB, _ = strconv.Atoi(m[0])
		r.cores, _ = strconv.Atoi(m[1])
		r.broker = m[2] == "yes"
		r.conc, _ = strconv.Atoi(m[3])
		r.memMax, _ = strconv.Atoi(m[4])
		out = append(out, r)
	}
	return out
}

// A small site: the broker role runs on the board the broker input names,
// with its share of the RAM; every board's workers use it by the address
// the inventory gives that board.
func TestSmallSite(t *testing.T) {
	src := renderSite(`broker = { host = "board1", password = "0123456789abcdef", memory_percent = 15 }`)
	on, errs := evalSite(t, src, board{"board1", 4, 2000})
	if errs != "" {
		t.Fatal(errs)
	}
	off, errs := evalSite(t, src, board{"board2", 4, 2000})
	if errs != "" {
		t.Fatal(errs)
	}
	if on["role.render.role.broker.service.redis"] == nil {
		t.Fatal("board1 does not run the broker")
	}
	for addr := range off {
		if strings.Contains(addr, "role.broker.") {
			t.Fatalf("board2 runs %s", addr)
		}
	}
	if conf := field(on["role.render.role.broker.file.config"], "content"); !strings.Contains(conf, "\nmaxmemory 300mb\n") {
		t.Errorf("broker config without maxmemory 300mb (15%% of 2000):\n%s", conf)
	}
	for _, nodes := range []map[string]*eval.Node{on, off} {
		conf := field(nodes["role.render.file.broker"], "content")
		if !strings.Contains(conf, `"broker_url":"redis://:0123456789abcdef@10.0.0.1:6379/0"`) {
			t.Errorf("worker settings without board1's broker: %s", conf)
		}
	}
	if c, _, _ := sizing(t, on); c != 4 {
		t.Errorf("board1 concurrency %d, want 4", c)
	}
}

// Each template is a file of its own, which the settings list; the
// settings are not sensitive (plans show their diffs), the broker's URL is.
func TestFiles(t *testing.T) {
	src := strings.Replace(renderSite(`broker = { url = "redis://:pw@10.0.0.5:6379/0" }`), template,
		`{ welcome = "Subject: Hi $name\n\nHello.\n", bye = "Subject: Bye\n\nBye.\n" }`, 1)
	nodes, errs := evalSite(t, src, board{"board1", 4, 2000})
	if errs != "" {
		t.Fatal(errs)
	}
	for addr, want := range map[string]string{
		`role.render.file.template["welcome"]`: "/etc/render/templates/welcome.eml Subject: Hi $name\n\nHello.\n",
		`role.render.file.template["bye"]`:     "/etc/render/templates/bye.eml Subject: Bye\n\nBye.\n",
	} {
		if got := field(nodes[addr], "path") + " " + field(nodes[addr], "content"); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
	settings, broker := nodes["role.render.file.settings"], nodes["role.render.file.broker"]
	if c := field(settings, "content"); !strings.Contains(c, `"templates":["bye","welcome"]`) || strings.Contains(c, "redis://") {
		t.Errorf("settings: %s", c)
	}
	if settings.Config.IsSensitive("content") || !broker.Config.IsSensitive("content") {
		t.Error("the settings must be shown in plans, the broker's URL must not")
	}
}

// RabbitMQ: no Redis client, results over the broker (rpc://).
func TestRabbitMQ(t *testing.T) {
	nodes, errs := evalSite(t, renderSite(`broker = { url = "amqp://render:pw@10.0.0.5:5672/mail" }`), board{"board1", 4, 2000})
	if errs != "" {
		t.Fatal(errs)
	}
	if _, ok := nodes["role.render.package.redis[0]"]; ok {
		t.Error("python3-redis installed for RabbitMQ")
	}
	if conf := field(nodes["role.render.file.broker"], "content"); !strings.Contains(conf, `"result_backend":"rpc://"`) {
		t.Errorf("result backend is not rpc://: %s", conf)
	}
}

// Bad inputs are refused before anything is contacted, saying what is
// wrong, and never quoting the broker's password.
func TestBadInputs(t *testing.T) {
	url := `broker = { url = "redis://:pw@10.0.0.5:6379/0" }` + "\n"
	for _, c := range []struct{ inputs, want string }{
		{`broker = { url = "redis://:secretpw@h:1/0", host = "board1" }`, "either { url = ... } or { host = ..., password = ... }"},
		{`broker = {}`, "either { url = ... } or { host = ..., password = ... }"},
		{`broker = { url = "http://secretpw@h/" }`, "redis://, rediss://, amqp:// or amqps://"},
		{`broker = { host = "board1" }`, "needs both host"},
		{`broker = { host = "board1", password = "secretpw" }`, "password must be 16 to 256"},
		{`broker = { host = "board1", password = "0123456789abcdef", memory_percent = 90 }`, "memory_percent is between 1 and 80"},
		{url + `process_mb = 10`, "process_mb is at least 48"},
		{url + `concurrency = 0`, "concurrency is a whole number, at least 1"},
		{url + `concurrency = 2.5`, "concurrency is a whole number, at least 1"},
		{url + `deliver = "smtp"`, "deliver is spool or result"},
		{url + `name = "Render"`, "name is lowercase letters"},
		{url + `queue = "a b"`, "queue is letters"},
		{url + `log_level = "LOUD"`, "log_level is DEBUG"},
	} {
		t.Run(c.inputs, func(t *testing.T) {
			_, errs := evalSite(t, renderSite(c.inputs), board{"board1", 4, 2000})
			if !strings.Contains(errs, c.want) {
				t.Errorf("errors %q, want %q", errs, c.want)
			}
			if strings.Contains(errs, "secretpw") {
				t.Errorf("the password shows in: %s", errs)
			}
		})
	}
	for _, c := range []struct{ templates, want string }{
		{`{}`, "at least one template"},
		{`{ "Welcome" = "Subject: x\n\nbody" }`, "names are lowercase letters"},
		{`{ welcome = "no headers, no body" }`, "starts with a header line"},
		{`{ welcome = "Subject: no body" }`, "blank line before its body"},
	} {
		t.Run(c.templates, func(t *testing.T) {
			src := strings.Replace(renderSite(url), template, c.templates, 1)
			_, errs := evalSite(t, src, board{"board1", 4, 2000})
			if !strings.Contains(errs, c.want) {
				t.Errorf("errors %q, want %q", errs, c.want)
			}
		})
	}
}

// A pool set by hand that does not fit the board is a warning (a check),
// not an error; the budget output adds what the role takes; a site can sum
// budgets in a check of its own.
func TestMemoryCheck(t *testing.T) {
	src := renderSite(`broker = { url = "redis://:pw@10.0.0.5:6379/0" }`+"\nconcurrency = 8") + `
check "board" {
  assert {
    condition     = try(role.render.memory_budget_mb, 0) + 1500 <= fact.memory_mb
    error_message = "render ${role.render.memory_budget_mb} MiB + 1500 MiB for the homeserver"
  }
}
`
	for _, tc := range []struct {
		memoryMB int
		want     []string
	}{
		{8000, nil},
		{2000, []string{"render 1152 MiB + 1500 MiB for the homeserver"}},
		{960, []string{"8 pool processes of 128 MiB (MemoryMax 1152 MiB)", "render 1152 MiB"}},
	} {
		res, errs := statestest.Eval(t, src, statestest.Board{Name: "board1", Address: "10.0.0.1", Cores: 4, MemoryMB: tc.memoryMB,
			Others: map[string]string{"board2": "10.0.0.2"}})
		if errs != "" {
			t.Fatalf("%d MiB: %s", tc.memoryMB, errs)
		}
		got := strings.Join(res.Warnings, "\n")
		if len(res.Warnings) != len(tc.want) {
			t.Errorf("%d MiB: warnings %q, want %d", tc.memoryMB, res.Warnings, len(tc.want))
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%d MiB: warnings %q lack %q", tc.memoryMB, got, w)
			}
		}
	}
}
