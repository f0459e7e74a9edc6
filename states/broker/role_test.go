package broker_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	_ "github.com/pinery/pinery/modules/all"
	"github.com/pinery/pinery/states/statestest"
)

// The broker role, evaluated for a board as the engine does, without
// contacting it: what it writes for the board's address and memory. The
// e2e script cmd/pinery/testdata/e2e/render.txtar runs it on the fleet.

const password = `password = "0123456789abcdef"` + "\n"

// evalBroker evaluates a site that includes the role with the given
// inputs on a board reached at address, and returns the files it writes
// (and the role's outputs, written to /tmp/url) by address, or the
// errors.
func evalBroker(t *testing.T, inputs, address string, memoryMB int) (map[string]string, string) {
	t.Helper()
	src := `role "b" {
  source = "broker"
  inputs = {
` + inputs + `
  }
}

file "url" {
  path    = "/tmp/url"
  content = "${role.b.url} ${role.b.address} ${role.b.maxmemory_mb}"
}
`
	g, errs := statestest.Eval(t, src, statestest.Board{Name: "queue", Address: address, IPv4: "192.168.1.9", MemoryMB: memoryMB})
	if errs != "" {
		return nil, errs
	}
	files := map[string]string{}
	for _, n := range g.Nodes {
		if v, ok := n.Config.Values["content"]; ok {
			v, _ = v.UnmarkDeep()
			if !v.IsNull() {
				files[n.Addr()] = v.AsString()
			}
		}
	}
	return files, ""
}

func TestBroker(t *testing.T) {
	for _, c := range []struct {
		name, inputs, address string
		memoryMB              int
		want                  []string // lines of redis.conf
		url                   string   // url, address and maxmemory_mb outputs
	}{
		{"2 GB board", "", "10.0.0.1", 2000,
			[]string{"bind 10.0.0.1 127.0.0.1", "port 6379", "maxmemory 200mb", "maxmemory-policy noeviction", "appendonly yes", "appendfsync everysec", `save ""`},
			"redis://:0123456789abcdef@10.0.0.1:6379/0 10.0.0.1 200"},
		{"small board: at least 32 MiB", "", "10.0.0.1", 256,
			[]string{"maxmemory 32mb"}, "redis://:0123456789abcdef@10.0.0.1:6379/0 10.0.0.1 32"},
		{"address is a name: the primary IPv4", "", "queue.example.org", 4000,
			[]string{"bind 192.168.1.9 127.0.0.1", "maxmemory 400mb"}, "redis://:0123456789abcdef@192.168.1.9:6379/0 192.168.1.9 400"},
		{"given", `port = 6380
maxmemory_mb = 64
bind = ["127.0.0.1", "10.1.1.1"]
appendfsync = "always"`, "10.0.0.1", 2000,
			[]string{"bind 127.0.0.1 10.1.1.1", "port 6380", "maxmemory 64mb", "appendfsync always"},
			"redis://:0123456789abcdef@10.1.1.1:6380/0 10.1.1.1 64"},
		{"a share", "maxmemory_percent = 25", "10.0.0.1", 2000, []string{"maxmemory 500mb"},
			"redis://:0123456789abcdef@10.0.0.1:6379/0 10.0.0.1 500"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files, errs := evalBroker(t, password+c.inputs, c.address, c.memoryMB)
			if errs != "" {
				t.Fatal(errs)
			}
			conf := files["role.b.file.config"]
			for _, l := range c.want {
				if !strings.Contains(conf, "\n"+l+"\n") {
					t.Errorf("redis.conf lacks %q:\n%s", l, conf)
				}
			}
			if !strings.Contains(conf, "\ninclude /etc/redis/pinery-auth.conf\n") || strings.Contains(conf, "0123456789abcdef") {
				t.Errorf("redis.conf must include the password file, not hold the password:\n%s", conf)
			}
			if got := files["role.b.file.auth"]; !strings.Contains(got, "\nrequirepass 0123456789abcdef\n") {
				t.Errorf("auth file: %q", got)
			}
			if got := files["file.url"]; got != c.url {
				t.Errorf("outputs %q, want %q", got, c.url)
			}
		})
	}
}

// TestMemoryTable checks the table of docs/roles/broker.md against the role.
func TestMemoryTable(t *testing.T) {
	rows := statestest.DocRows(t, "broker", regexp.MustCompile(`^\| (\d+) \| (\d+) \|$`))
	for _, m := range rows {
		memoryMB, _ := strconv.Atoi(m[0])
		files, errs := evalBroker(t, password, "10.0.0.1", memoryMB)
		if errs != "" {
			t.Fatal(errs)
		}
		if want := "\nmaxmemory " + m[1] + "mb\n"; !strings.Contains(files["role.b.file.config"], want) {
			t.Errorf("%s MiB: redis.conf lacks %q", m[0], want)
		}
	}
	if len(rows) < 3 {
		t.Fatalf("docs/roles/broker.md has %d memory rows, want at least 3", len(rows))
	}
}

func TestBrokerBadInputs(t *testing.T) {
	for _, c := range []struct{ inputs, want string }{
		{`password = "short"`, "password must be 16 to 256"},
		{`password = "has space and is long enough"`, "password must be 16 to 256"},
		{`password = "0123456789abcdef/"`, "password must be 16 to 256"},
		{password + `port = 0`, "port is a TCP port"},
		{password + `bind = ["queue.example.org"]`, "bind lists IP addresses"},
		{password + `maxmemory_percent = 90`, "maxmemory_percent is between 1 and 80"},
		{password + `maxmemory_mb = 4`, "maxmemory_mb is at least 8"},
		{password + `appendfsync = "sometimes"`, "appendfsync is everysec, always or no"},
	} {
		t.Run(c.inputs, func(t *testing.T) {
			_, errs := evalBroker(t, c.inputs, "10.0.0.1", 2000)
			if !strings.Contains(errs, c.want) {
				t.Errorf("errors %q, want %q", errs, c.want)
			}
			if strings.Contains(errs, "long enough") || strings.Contains(errs, "0123456789abcdef") {
				t.Errorf("the password shows in: %s", errs)
			}
		})
	}
}
