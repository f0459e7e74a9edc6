package homeserver_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pinery/pinery/states/statestest"
)

// The workers of workers.hcl evaluated for boards of several sizes: how
// Synapse's share is split between its processes, what each process's
// files say, which resource restarts which, and where nginx sends a path.
// cmd/pinery/testdata/e2e/homeserver_workers.txtar runs them on the fleet.

const workersOn = "workers = true\nredis_password = \"e2eRedisPassword0123\""

// process is one entry of the memory output's processes.
type process struct {
	Max   int     `json:"memory_max_mb"`
	High  int     `json:"memory_high_mb"`
	Cache float64 `json:"cache_factor"`
}

// evalWorkers evaluates the role with inputs on a board of memoryMB and
// returns the memory output's processes, the files by address and the
// resources' watch lists (address → watched addresses).
func evalWorkers(t *testing.T, memoryMB int, inputs string) (memory, map[string]process, map[string]string, map[string][]string) {
	t.Helper()
	mem, files, errs := evalRole(t, memoryMB, inputs)
	if errs != "" {
		t.Fatal(errs)
	}
	var out struct {
		Processes map[string]process `json:"processes"`
	}
	if err := json.Unmarshal([]byte(files["file.memory"]), &out); err != nil {
		t.Fatal(err)
	}
	src := `role "hs" {
  source = "homeserver"
  inputs = {
server_name = "example.org"
signing_key = "` + key + `"
index_url = "http://10.0.0.2/wheels/simple/"
` + inputs + `
  }
}
`
	res, e := statestest.Eval(t, src, statestest.Board{Cores: 6, MemoryMB: memoryMB})
	if e != "" {
		t.Fatal(e)
	}
	watch := map[string][]string{}
	for _, n := range res.Nodes {
		for _, w := range n.Watch {
			watch[n.Addr()] = append(watch[n.Addr()], w.Addr())
		}
	}
	return mem, out.Processes, files, watch
}

// TestWorkerSizing checks the workers table of docs/roles/homeserver.md
// (and more boards) against the role: how many generic workers, each
// process's MemoryMax in its unit or drop-in, that they add up to no more
// than Synapse's share, and the ports and names in the workers' files.
func TestWorkerSizing(t *testing.T) {
	type row struct {
		memoryMB, generic, main, each, sender, total int
		cache                                        float64
		inputs                                       string
	}
	var rows []row
	for _, m := range statestest.DocRows(t, "homeserver", regexp.MustCompile(`^\| (\d+) \| (\d+) \| (\d+)M \| (\d+)M \| (\d+)M \| (\d+)M \| ([0-9.]+) \|$`)) {
		var n [6]int
		for i := range n {
			n[i], _ = strconv.Atoi(m[i])
		}
		c, _ := strconv.ParseFloat(m[6], 64)
		rows = append(rows, row{n[0], n[1], n[2], n[3], n[4], n[5], c, ""})
	}
	if len(rows) != 4 {
		t.Fatalf("docs/roles/homeserver.md has %d worker sizing rows, want 4 (2, 4, 8 GB and a RockPro64's 3875)", len(rows))
	}
	rows = append(rows,
		// Given: 3 generic workers on a 4 GB board: 1843 × 4/15, × 3/15, × 2/15.
		row{4096, 3, 491, 368, 245, 491 + 3*368 + 245, 0.1, "generic_workers = 3"},
		// 16 GB, more share: 16384 × 0.6 = 9830 → at most 4 workers;
		// 9830 × 4/18 = 2184.4, × 3/18 = 1638.3, × 2/18 = 1092.2; 2184 → 0.5.
		row{16384, 4, 2184, 1638, 1092, 2184 + 4*1638 + 1092, 0.5, "synapse_share = 0.6\npostgres_share = 0.2"},
		// memory_mb overrides the board's RAM: a 24 GB host sized as a RockPro64.
		row{24105, 2, 581, 435, 290, 581 + 2*435 + 290, 0.1, "memory_mb = 3875"},
		// A cache factor given applies to every process.
		row{4096, 2, 614, 460, 307, 614 + 2*460 + 307, 0.3, "cache_factor = 0.3"},
	)
	for _, r := range rows {
		t.Run(fmt.Sprintf("%d %s", r.memoryMB, strings.ReplaceAll(r.inputs, "\n", " ")), func(t *testing.T) {
			mem, procs, files, _ := evalWorkers(t, r.memoryMB, workersOn+"\n"+r.inputs)
			if len(procs) != r.generic+2 {
				t.Fatalf("%d processes, want main, federation_sender1 and %d generic workers: %v", len(procs), r.generic, procs)
			}
			total := 0
			for name, p := range procs {
				total += p.Max
				want := r.each
				switch name {
				case "main":
					want = r.main
				case "federation_sender1":
					want = r.sender
				}
				if p.Max != want || p.High != p.Max*9/10 {
					t.Errorf("%s: MemoryMax %d, MemoryHigh %d; want %d, %d", name, p.Max, p.High, want, want*9/10)
				}
				if name != "main" {
					wantCache := r.cache
					if r.inputs != "cache_factor = 0.3" {
						wantCache = max(0.1, float64(int(float64(p.Max)/4096*20))/20)
					}
					if p.Cache != wantCache {
						t.Errorf("%s: cache factor %v, want %v", name, p.Cache, wantCache)
					}
				}
			}
			if procs["main"].Cache != r.cache || mem.CacheFactor != r.cache {
				t.Errorf("main cache factor %v (output %v), want %v", procs["main"].Cache, mem.CacheFactor, r.cache)
			}
			if total != r.total || total > mem.SynapseMax {
				t.Errorf("the processes' MemoryMax add up to %d, want %d, at most Synapse's share %d", total, r.total, mem.SynapseMax)
			}
			if !strings.Contains(files["role.hs.systemd_unit.synapse"], fmt.Sprintf("\nMemoryMax=%dM\n", r.main)) {
				t.Errorf("synapse.service lacks MemoryMax=%dM:\n%s", r.main, files["role.hs.systemd_unit.synapse"])
			}
			if !strings.Contains(files["role.hs.file.config"], fmt.Sprintf("\n  global_factor: %s\n", strconv.FormatFloat(r.cache, 'f', -1, 64))) {
				t.Errorf("homeserver.yaml lacks the main process's cache factor %v", r.cache)
			}
			for name, p := range procs {
				if name == "main" {
					continue
				}
				dropin := files[`role.hs.systemd_unit.worker_memory["`+name+`"]`]
				if want := fmt.Sprintf("\n[Service]\nMemoryHigh=%dM\nMemoryMax=%dM\n", p.High, p.Max); !strings.Contains(dropin, want) {
					t.Errorf("%s's drop-in lacks %q:\n%s", name, want, dropin)
				}
				conf := files[`role.hs.file.worker["`+name+`"]`]
				for _, l := range []string{"worker_app: synapse.app.generic_worker", "worker_name: " + name, "    bind_addresses: ['127.0.0.1']",
					"  global_factor: " + strconv.FormatFloat(p.Cache, 'f', -1, 64)} {
					if !strings.Contains(conf, "\n"+l+"\n") {
						t.Errorf("%s.yaml lacks %q:\n%s", name, l, conf)
					}
				}
			}
		})
	}
}

// TestWorkerFiles checks what the processes are told: the main process
// behind nginx on loopback with its replication listener, Redis, the
// federation sender, each worker's port and resources, and nginx's
// upstreams and listeners.
func TestWorkerFiles(t *testing.T) {
	_, _, files, _ := evalWorkers(t, 4096, workersOn)
	hs := files["role.hs.file.config"]
	for _, l := range []string{
		"  - port: 8010", "    bind_addresses: ['127.0.0.1']", // the main process, behind nginx
		"  - port: 8011", "      - names: [replication]",
		"instance_map:\n  main:\n    host: 127.0.0.1\n    port: 8011",
		"redis:\n  enabled: true\n  host: 127.0.0.1\n  port: 6379\n  password_path: /etc/synapse/redis_password",
		"federation_sender_instances: [federation_sender1]",
	} {
		if !strings.Contains(hs, "\n"+l+"\n") {
			t.Errorf("homeserver.yaml lacks %q:\n%s", l, hs)
		}
	}
	if strings.Contains(hs, "e2eRedisPassword0123") || strings.Contains(hs, "8008") {
		t.Errorf("homeserver.yaml holds the Redis password or the public port:\n%s", hs)
	}
	if got := files["role.hs.file.redis_password[0]"]; got != "e2eRedisPassword0123" {
		t.Errorf("redis_password file: %q", got)
	}
	for name, want := range map[string][]string{
		"federation_sender1": {"    port: 8012", "      - names: [health]"},
		"generic_worker1":    {"    port: 8013", "      - names: [client, federation]"},
		"generic_worker2":    {"    port: 8014", "      - names: [client, federation]"},
	} {
		for _, l := range want {
			if !strings.Contains(files[`role.hs.file.worker["`+name+`"]`], "\n"+l+"\n") {
				t.Errorf("%s.yaml lacks %q:\n%s", name, l, files[`role.hs.file.worker["`+name+`"]`])
			}
		}
	}
	nginx := files["role.hs.file.nginx[0]"]
	for _, l := range []string{
		"        listen 10.0.0.1:8008;", "        listen 127.0.0.1:8008;",
		"    upstream synapse_main {\n        server 127.0.0.1:8010;",
		"    upstream synapse_workers {\n        server 127.0.0.1:8013;\n        server 127.0.0.1:8014;\n        keepalive 8;",
		"    upstream synapse_sync {\n        hash $mxid_localpart consistent;\n        server 127.0.0.1:8013;\n        server 127.0.0.1:8014;\n    }",
	} {
		if !strings.Contains(nginx, "\n"+l+"\n") {
			t.Errorf("nginx.conf lacks %q", l)
		}
	}
	if strings.Contains(files["role.hs.systemd_unit.worker[0]"], "\nMemoryMax=") {
		t.Error("the template unit sets MemoryMax: it belongs to each instance's drop-in")
	}
	// The Redis of the board: the broker role on loopback.
	if !strings.Contains(files["role.hs.role.redis.file.config"], "\nbind 127.0.0.1\n") {
		t.Errorf("Redis is not on loopback only:\n%s", files["role.hs.role.redis.file.config"])
	}
}

// Without workers nothing of them is on the board, and Synapse keeps the
// public port; with a Redis elsewhere, the role runs none.
func TestWorkersOffAndRedisElsewhere(t *testing.T) {
	_, procs, files, _ := evalWorkers(t, 4096, "")
	if len(procs) != 1 {
		t.Errorf("processes without workers: %v", procs)
	}
	for addr := range files {
		if strings.Contains(addr, "worker") || strings.Contains(addr, "nginx") || strings.Contains(addr, "redis") {
			t.Errorf("%s without workers", addr)
		}
	}
	if hs := files["role.hs.file.config"]; !strings.Contains(hs, "\n  - port: 8008\n") || strings.Contains(hs, "redis:") || strings.Contains(hs, "instance_map") {
		t.Errorf("homeserver.yaml without workers:\n%s", hs)
	}

	_, _, files, _ = evalWorkers(t, 4096, "workers = true\nredis_host = \"10.0.0.7\"\nredis_port = 6380")
	for addr := range files {
		if strings.Contains(addr, "redis") {
			t.Errorf("%s with redis_host set", addr)
		}
	}
	if hs := files["role.hs.file.config"]; !strings.Contains(hs, "\nredis:\n  enabled: true\n  host: 10.0.0.7\n  port: 6380\nfederation_sender_instances") {
		t.Errorf("homeserver.yaml with redis_host:\n%s", hs)
	}
}

// TestWorkerRestarts checks the watch lists: a worker's files restart the
// workers and not the main process; homeserver.yaml, the code and the
// secrets restart every Synapse process; nginx is reloaded by its
// configuration alone.
func TestWorkerRestarts(t *testing.T) {
	_, _, _, watch := evalWorkers(t, 4096, workersOn)
	shared := []string{"role.hs.python_venv.synapse", "role.hs.file.config", "role.hs.file.signing_key", "role.hs.file.redis_password[0]"}
	mine := []string{"role.hs.systemd_unit.worker[0]", `role.hs.file.worker["generic_worker1"]`, `role.hs.systemd_unit.worker_memory["generic_worker1"]`}
	for _, c := range []struct {
		addr      string
		want, not []string
	}{
		{"role.hs.service.synapse", append(shared, "role.hs.systemd_unit.synapse"), append(mine, "role.hs.file.nginx[0]")},
		{`role.hs.service.worker["generic_worker2"]`, append(shared, mine...), []string{"role.hs.systemd_unit.synapse", "role.hs.file.nginx[0]", "role.hs.role.db.file.conf"}},
		{"role.hs.service.nginx[0]", []string{"role.hs.file.nginx[0]"}, append(shared, mine...)},
	} {
		for _, w := range c.want {
			if !slices.Contains(watch[c.addr], w) {
				t.Errorf("%s does not watch %s: %v", c.addr, w, watch[c.addr])
			}
		}
		for _, w := range c.not {
			if slices.Contains(watch[c.addr], w) {
				t.Errorf("%s watches %s", c.addr, w)
			}
		}
	}
}

func TestWorkerBadInputs(t *testing.T) {
	for _, c := range []struct{ inputs, want string }{
		{"workers = true", "redis_password is required"},
		{workersOn + "\ngeneric_workers = 0", "generic_workers is a whole number from 1 to 16"},
		{workersOn + "\ngeneric_workers = 1.5", "generic_workers is a whole number from 1 to 16"},
		{workersOn + "\ngeneric_workers = 8", "too small for 8 generic workers"},
		{"workers = true\nredis_password = \"short\"", "redis_password is 16 to 256"},
		{workersOn + "\nworker_port = 80", "worker_port is from 1024"},
		{workersOn + "\nmemory_mb = 100", "memory_mb is at least 512"},
	} {
		_, _, errs := evalRole(t, 2048, c.inputs)
		if !strings.Contains(errs, c.want) {
			t.Errorf("%s: want an error with %q, got %q", c.inputs, c.want, errs)
		}
		if strings.Contains(errs, "e2eRedisPassword0123") {
			t.Errorf("%s: the Redis password shows in %q", c.inputs, errs)
		}
	}
}
