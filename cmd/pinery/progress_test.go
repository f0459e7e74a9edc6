package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

var updateProgress = flag.Bool("update-progress", false, "rewrite testdata/progress golden files")

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// hostPlan is a host with the given resources to create ("!addr": failed
// to plan, "~addr": nothing to do).
func hostPlan(name string, addrs ...string) *plan.HostPlan {
	hp := &plan.HostPlan{Host: name}
	for _, a := range addrs {
		rp := &plan.ResourcePlan{Addr: strings.TrimLeft(a, "!~"), Action: resource.Create}
		switch a[0] {
		case '!':
			rp.Error = errors.New("probe failed")
		case '~':
			rp.Action = resource.NoOp
		}
		hp.Resources = append(hp.Resources, rp)
	}
	return hp
}

func samplePlan() *plan.Plan {
	down := hostPlan("h3")
	down.Error = fmt.Errorf("%w: connection refused", transport.ErrUnreachable)
	return &plan.Plan{Hosts: []*plan.HostPlan{
		hostPlan("h1", "package.nginx", "file.site", "service.nginx"),
		hostPlan("h2", "~file.site"),
		down,
		hostPlan("sopine-rack2-board07", "package.nginx", "file.site"),
		hostPlan("h5", "exec.migrate"),
	}}
}

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestStatusLinesGolden(t *testing.T) {
	many := &plan.Plan{}
	for i := range 30 {
		many.Hosts = append(many.Hosts, hostPlan(fmt.Sprintf("board%02d", i), "file.a", "file.b"))
	}
	wide := &plan.Plan{Hosts: []*plan.HostPlan{
		hostPlan("主机一", `file["/srv/数据/配置.conf"]`),
		hostPlan("h\x1b[2Jx", "file.e\u0301te\u0301"), // control characters are shown as ?
	}}
	for _, tc := range []struct {
		name          string
		p             *plan.Plan
		width, height int
		drive         func(s *status)
		now           time.Time
	}{
		{"start", samplePlan(), 80, 24, func(s *status) {}, at(0)},
		{"batch", samplePlan(), 80, 24, func(s *status) {
			s.batch([]string{"h1", "sopine-rack2-board07", "h5"}, at(1))
		}, at(1)},
		{"midway", samplePlan(), 80, 24, func(s *status) {
			s.batch([]string{"h1", "sopine-rack2-board07", "h5"}, at(1))
			s.started("h1", "package.nginx", at(2))
			s.event(engine.Event{Host: "h1", Addr: "package.nginx", Status: engine.StatusChanged})
			s.started("h1", "file.site", at(3))
			s.started("h5", "exec.migrate", at(2))
			s.event(engine.Event{Host: "h5", Addr: "exec.migrate", Status: engine.StatusFailed, Err: errors.New("exit 1")})
			s.started("sopine-rack2-board07", "package.nginx", at(2))
		}, at(75)},
		{"narrow", samplePlan(), 32, 24, func(s *status) {
			s.batch([]string{"h1", "sopine-rack2-board07"}, at(0))
			s.started("h1", "service.nginx", at(1))
		}, at(3725)},
		{"many", many, 70, 8, func(s *status) {
			var names []string
			for _, h := range many.Hosts {
				names = append(names, h.Host)
			}
			s.batch(names[:20], at(0))
			for _, n := range names[:20] {
				s.started(n, "file.a", at(1))
			}
		}, at(9)},
		{"wide", wide, 30, 10, func(s *status) {
			s.batch([]string{"主机一", "h\x1b[2Jx"}, at(0))
			s.started("主机一", `file["/srv/数据/配置.conf"]`, at(0))
			s.started("h\x1b[2Jx", "file.e\u0301te\u0301", at(0))
		}, at(2)},
		{"header_only", samplePlan(), 80, 2, func(s *status) {
			s.batch([]string{"h1"}, at(0))
		}, at(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStatus(tc.p, t0)
			tc.drive(s)
			lines := s.lines(tc.now, tc.width, tc.height)
			checkFits(t, lines, tc.width, tc.height)
			got := []byte(strings.Join(lines, "\n") + "\n")
			path := filepath.Join("testdata", "progress", tc.name+".golden")
			if *updateProgress {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestStatusLinesGolden -update-progress creates it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("lines differ from %s:\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

// checkFits asserts the area's promises: no line reaches the last column,
// the cursor can always move back to the area's top.
func checkFits(t *testing.T, lines []string, width, height int) {
	t.Helper()
	if len(lines) > max(0, height-1) {
		t.Errorf("%d lines for a terminal of %d rows", len(lines), height)
	}
	for _, l := range lines {
		if w := textWidth(l); w > width-1 {
			t.Errorf("line %q is %d columns wide for a terminal of %d", l, w, width)
		}
		if strings.ContainsFunc(l, func(r rune) bool { return r < ' ' }) {
			t.Errorf("line %q holds a control character", l)
		}
	}
}

// Every size, tiny ones included, gives an area that fits.
func TestStatusLinesFitEverySize(t *testing.T) {
	p := &plan.Plan{}
	var names []string
	for i := range 12 {
		n := fmt.Sprintf("板%02d-with-a-rather-long-name", i)
		names = append(names, n)
		p.Hosts = append(p.Hosts, hostPlan(n, `file["/etc/nginx/sites-enabled/数据.conf"]`))
	}
	s := newStatus(p, t0)
	s.batch(names, t0)
	for _, n := range names {
		s.started(n, `file["/etc/nginx/sites-enabled/数据.conf"]`, t0)
	}
	for w := 0; w <= 130; w++ {
		for h := 0; h <= 20; h++ {
			lines := s.lines(at(4000), w, h)
			checkFits(t, lines, w, h)
			if w >= 2 && h >= 2 && len(lines) != min(h-1, 1+len(names)) {
				t.Errorf("%dx%d: %d lines, want %d", w, h, len(lines), min(h-1, 1+len(names)))
			}
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		w    int
		want string
	}{
		{"package.nginx", 20, "package.nginx"},
		{"package.nginx", 13, "package.nginx"},
		{"package.nginx", 12, "package.ngi…"},
		{"package.nginx", 1, "…"},
		{"package.nginx", 0, ""},
		{"数据配置", 8, "数据配置"},
		{"数据配置", 7, "数据配…"},
		{"数据配置", 6, "数据…"}, // a wide rune never half-fits
		{"数据配置", 5, "数据…"},
		{"e\u0301te\u0301!", 4, "e\u0301te\u0301!"}, // combining accents take no column
		{"e\u0301te\u0301!!", 4, "e\u0301te\u0301…"},
	} {
		got := truncate(tc.in, tc.w)
		if got != tc.want || textWidth(got) > max(tc.w, 0) {
			t.Errorf("truncate(%q, %d) = %q (%d columns), want %q", tc.in, tc.w, got, textWidth(got), tc.want)
		}
	}
}

func TestElapsed(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 59*time.Second + 900*time.Millisecond: "59s", 60 * time.Second: "1m00s",
		3599 * time.Second: "59m59s", 3600 * time.Second: "1h00m", 26*time.Hour + 5*time.Minute: "26h05m",
	} {
		if got := elapsed(d); got != want {
			t.Errorf("elapsed(%v) = %q, want %q", d, got, want)
		}
	}
}

// The phases follow the events: done once every planned change reported,
// failed or unreachable by the worst outcome, back to running for a
// refresh, waiting between stages.
func TestStatusPhases(t *testing.T) {
	lost := fmt.Errorf("%w: connection lost during command", transport.ErrUnreachable)
	type step struct {
		batch []string
		start string // host:addr
		ev    *engine.Event
		done  *engine.HostResult
	}
	ev := func(host, addr string, s engine.Status, err error) step {
		return step{ev: &engine.Event{Host: host, Addr: addr, Status: s, Err: err}}
	}
	start := func(host, addr string) step { return step{start: host + ":" + addr} }
	for _, tc := range []struct {
		name  string
		steps []step
		want  map[string]hostPhase
	}{
		{"planned", nil, map[string]hostPhase{"a": phaseWaiting, "b": phaseDone, "c": phaseUnreachable, "d": phaseFailed}},
		{"batch runs", []step{{batch: []string{"a", "b"}}}, map[string]hostPhase{"a": phaseRunning, "b": phaseDone}},
		{"half reported", []step{{batch: []string{"a"}}, start("a", "file.x"), ev("a", "file.x", engine.StatusChanged, nil)},
			map[string]hostPhase{"a": phaseRunning}},
		{"all reported", []step{{batch: []string{"a"}}, ev("a", "file.x", engine.StatusChanged, nil), ev("a", "exec.y", engine.StatusSkipped, nil)},
			map[string]hostPhase{"a": phaseDone}},
		{"unplanned event is not counted", []step{{batch: []string{"a"}}, ev("a", "file.x", engine.StatusChanged, nil), ev("a", "file.z", engine.StatusSkipped, nil)},
			map[string]hostPhase{"a": phaseRunning}},
		{"failed", []step{{batch: []string{"a"}}, ev("a", "file.x", engine.StatusFailed, errors.New("disk full")), ev("a", "exec.y", engine.StatusSkipped, nil)},
			map[string]hostPhase{"a": phaseFailed}},
		{"lost mid-apply", []step{{batch: []string{"a"}}, ev("a", "file.x", engine.StatusFailed, lost), ev("a", "exec.y", engine.StatusSkipped, nil)},
			map[string]hostPhase{"a": phaseUnreachable}},
		{"refresh after the last change", []step{{batch: []string{"a"}}, ev("a", "file.x", engine.StatusChanged, nil), ev("a", "exec.y", engine.StatusChanged, nil), start("a", "service.z")},
			map[string]hostPhase{"a": phaseRunning}},
		{"next batch finishes the last", []step{{batch: []string{"a"}}, ev("a", "file.x", engine.StatusFailed, errors.New("x")), {batch: []string{"e"}}},
			map[string]hostPhase{"a": phaseFailed, "e": phaseRunning}},
		{"a later stage has the rest", []step{{batch: []string{"a"}}, ev("a", "file.x", engine.StatusChanged, nil), {batch: []string{"e"}}},
			map[string]hostPhase{"a": phaseWaiting, "e": phaseRunning}},
		{"finished without events: locked", []step{{batch: []string{"a"}}, {done: &engine.HostResult{Host: "a", Err: errors.New("locked by another run")}}},
			map[string]hostPhase{"a": phaseFailed}},
		{"finished when lost before any event", []step{{batch: []string{"a"}}, start("a", "file.x"), {done: &engine.HostResult{Host: "a", Err: lost}}},
			map[string]hostPhase{"a": phaseUnreachable}},
		{"its next stage", []step{{batch: []string{"a"}}, ev("a", "file.x", engine.StatusChanged, nil), {batch: []string{"e"}}, {batch: []string{"a"}}},
			map[string]hostPhase{"a": phaseRunning, "e": phaseWaiting}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := hostPlan("d", "!file.x")
			bad.Error = errors.New("facts: malformed")
			down := hostPlan("c")
			down.Error = fmt.Errorf("%w: i/o timeout", transport.ErrUnreachable)
			s := newStatus(&plan.Plan{Hosts: []*plan.HostPlan{
				hostPlan("a", "file.x", "exec.y", "~service.z"), hostPlan("b", "~file.x"), down, bad, hostPlan("e", "file.x"),
			}}, t0)
			for _, st := range tc.steps {
				switch {
				case st.batch != nil:
					s.batch(st.batch, t0)
				case st.start != "":
					h, a, _ := strings.Cut(st.start, ":")
					s.started(h, a, t0)
				case st.done != nil:
					s.finished(*st.done)
				default:
					s.event(*st.ev)
				}
			}
			for host, want := range tc.want {
				if got := s.byName[host].phase; got != want {
					t.Errorf("%s: phase %d, want %d", host, got, want)
				}
			}
		})
	}
}

// Whatever a host or resource is called, its line fits and moves no cursor.
func FuzzStatusLine(f *testing.F) {
	f.Add("h1", `file["/etc/数据.conf"]`, 40)
	f.Add("h\x1b[2J", "e\u0301\t\r\n", 3)
	f.Fuzz(func(t *testing.T, host, addr string, width int) {
		width %= 300
		if got := truncate(addr, width); textWidth(got) > max(width, 0) || textWidth(addr) <= width && got != addr {
			t.Errorf("truncate(%q, %d) = %q", addr, width, got)
		}
		s := newStatus(&plan.Plan{Hosts: []*plan.HostPlan{hostPlan("x"+host, "file.a")}}, t0)
		s.batch([]string{"x" + host}, t0)
		s.started("x"+host, addr, t0)
		checkFits(t, s.lines(at(5), width, 5), width, 5)
	})
}
