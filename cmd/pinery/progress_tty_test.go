package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/plan"
)

// screen is a small terminal emulator: enough of a VT100 (text, CR, LF,
// cursor up, erase line, erase below, colours ignored) to check what a
// person would see, scrollback included.
type screen struct {
	width, height int
	rows          [][]rune
	top, y, x     int // first visible row; cursor
}

var csi = regexp.MustCompile(`^\x1b\[([0-9;?]*)([A-Za-z])`)

func (s *screen) Write(b []byte) (int, error) {
	in := string(b)
	for in != "" {
		if m := csi.FindStringSubmatch(in); m != nil {
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "A":
				s.y = max(s.top, s.y-max(n, 1))
			case "K":
				s.row()
				if s.x < len(s.rows[s.y]) {
					s.rows[s.y] = s.rows[s.y][:s.x]
				}
			case "J":
				s.row()
				if s.x < len(s.rows[s.y]) {
					s.rows[s.y] = s.rows[s.y][:s.x]
				}
				s.rows = s.rows[:s.y+1]
			case "m", "h", "l": // colours, cursor shown or hidden
			default:
				return 0, errors.New("unexpected escape sequence " + strconv.Quote(m[0]))
			}
			in = in[len(m[0]):]
			continue
		}
		r, size := utf8.DecodeRuneInString(in)
		in = in[size:]
		switch r {
		case '\r':
			s.x = 0
		case '\n': // the tty's onlcr makes it CR LF
			s.x = 0
			s.lf()
		case 0x1b:
			return 0, errors.New("stray escape")
		default:
			w := runeWidth(r)
			if s.x+w > s.width {
				s.x = 0
				s.lf()
			}
			s.row()
			for len(s.rows[s.y]) < s.x {
				s.rows[s.y] = append(s.rows[s.y], ' ')
			}
			if s.x < len(s.rows[s.y]) {
				s.rows[s.y][s.x] = r
			} else {
				s.rows[s.y] = append(s.rows[s.y], r)
			}
			s.x += max(w, 1)
		}
	}
	return len(b), nil
}

func (s *screen) row() {
	for len(s.rows) <= s.y {
		s.rows = append(s.rows, nil)
	}
}

func (s *screen) lf() {
	s.y++
	if s.y >= s.top+s.height {
		s.top++
	}
	s.row()
}

// text is every row, scrollback first, without trailing blank rows.
func (s *screen) text() string {
	var b strings.Builder
	for _, r := range s.rows {
		b.WriteString(strings.TrimRight(string(r), " ") + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// fakeClock is a display's time, moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLiveDisplayScreen(t *testing.T) {
	scr := &screen{width: 72, height: 6}
	var raw bytes.Buffer
	clock := &fakeClock{t0}
	size := func() (int, int) { return scr.width, scr.height }
	d := newLiveDisplay(io.MultiWriter(scr, &raw), size, clock.now, plan.Style{}, newStatus(samplePlan(), t0))
	g := &globals{live: d}
	frame := func() string {
		raw.Reset()
		d.frame(false)
		return raw.String()
	}

	d.batch(engine.Batch{Number: 1, Hosts: []string{"h1", "sopine-rack2-board07", "h5"}})
	g.println("Batch 1: h1, sopine-rack2-board07, h5")
	g.resourceStarted("h1", "package.nginx")
	frame()
	want := `Batch 1: h1, sopine-rack2-board07, h5
5 hosts, 0s: 1 done, 3 running, 1 unreachable; 0 changed
  h1                       0s  0/3  package.nginx
  sopine-rack2-board07     0s  0/2  starting
  h5                       0s  0/1  starting`
	if got := scr.text(); got != want {
		t.Fatalf("screen after the first frame:\n%s\n--- want\n%s", got, want)
	}

	// Nothing changed: nothing written.
	if out := frame(); out != "" {
		t.Errorf("an unchanged frame wrote %q", out)
	}
	// One host moves on: only its line is rewritten.
	g.resourceStarted("h5", "exec.migrate")
	if out := frame(); strings.Contains(out, "h1") || strings.Contains(out, "hosts,") || !strings.Contains(out, "exec.migrate") {
		t.Errorf("a frame rewrote more (or less) than h5's line: %q", out)
	}

	// Events scroll above the area; finished hosts leave it.
	for _, e := range []engine.Event{
		{Host: "h1", Addr: "package.nginx", Status: engine.StatusChanged},
		{Host: "h1", Addr: "file.site", Status: engine.StatusChanged},
		{Host: "h1", Addr: "service.nginx", Status: engine.StatusChanged},
		{Host: "h5", Addr: "exec.migrate", Status: engine.StatusFailed, Err: errors.New("exit status 1\nstderr:\n  no")},
	} {
		d.event(e)
		line := e.Host + ": " + e.Addr + " " + string(e.Status)
		if e.Err != nil {
			line += ": " + e.Err.Error() // lines shorter than the area's they are written over
		}
		g.println(line)
	}
	clock.t = at(12)
	frame()
	want = `Batch 1: h1, sopine-rack2-board07, h5
h1: package.nginx changed
h1: file.site changed
h1: service.nginx changed
h5: exec.migrate failed: exit status 1
stderr:
  no
5 hosts, 12s: 2 done, 1 running, 1 failed, 1 unreachable; 3 changed
  sopine-rack2-board07    12s  0/2  starting`
	if got := scr.text(); got != want {
		t.Fatalf("screen after the events:\n%s\n--- want\n%s", got, want)
	}

	// More lines than rows: they scroll, and the area stays whole under them.
	for i := range 8 {
		g.println("line " + strconv.Itoa(i))
	}
	frame()
	if got := scr.text(); !strings.HasSuffix(got, "line 7\n5 hosts, 12s: 2 done, 1 running, 1 failed, 1 unreachable; 3 changed\n  sopine-rack2-board07    12s  0/2  starting") {
		t.Fatalf("screen after scrolling:\n%s", got)
	}

	// The terminal shrinks to 3 rows: the area shrinks to 2 lines.
	scr.height = 3
	g.resourceStarted("h1", "service.nginx") // a refresh: h1 runs again
	frame()
	if got := scr.text(); !strings.HasSuffix(got, "line 7\n5 hosts, 12s: 1 done, 2 running, 1 failed, 1 unreachable; 3 changed\n  +2 more running") {
		t.Fatalf("screen of 3 rows:\n%s", got)
	}

	// Closing prints what is pending and leaves only the plain output.
	g.println("h1: service.nginx changed: restarted (file.site changed)")
	d.close()
	want = "Batch 1: h1, sopine-rack2-board07, h5\nh1: package.nginx changed\nh1: file.site changed\nh1: service.nginx changed\nh5: exec.migrate failed: exit status 1\nstderr:\n  no\n"
	for i := range 8 {
		want += "line " + strconv.Itoa(i) + "\n"
	}
	want += "h1: service.nginx changed: restarted (file.site changed)"
	if got := scr.text(); got != want {
		t.Fatalf("screen after close:\n%s\n--- want\n%s", got, want)
	}
}

// openPTY opens a pseudo-terminal pair of the given size.
func openPTY(t *testing.T, cols, rows int) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}); err != nil {
		t.Fatalf("sizing the pty: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// The live display starts on a terminal only, and honours NO_COLOR,
// --no-color, --json and TERM=dumb.
func TestStartLiveNeedsATerminal(t *testing.T) {
	_, tty := openPTY(t, 80, 24)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm-256color")
	for _, tc := range []struct {
		name string
		g    globals
		env  string
		want bool
	}{
		{"terminal", globals{stdout: tty}, "", true},
		{"pipe", globals{stdout: w}, "", false},
		{"buffer", globals{stdout: &bytes.Buffer{}}, "", false},
		{"NO_COLOR", globals{stdout: tty}, "NO_COLOR=1", false},
		{"TERM=dumb", globals{stdout: tty}, "TERM=dumb", false},
		{"--no-color", globals{stdout: tty, noColor: true}, "", false},
		{"--json", globals{stdout: tty, jsonEvents: true}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k, v, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(k, v)
			}
			d := tc.g.startLive(samplePlan(), t0)
			defer d.close()
			if (d != nil) != tc.want {
				t.Errorf("live display started: %v, want %v", d != nil, tc.want)
			}
		})
	}
}

// Through a real pseudo-terminal (its line discipline, its size): the
// area is drawn while the apply runs and gone when it ends.
func TestLiveDisplayThroughPTY(t *testing.T) {
	master, tty := openPTY(t, 72, 12)
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm-256color")
	scr := &screen{width: 72, height: 12}
	var mu sync.Mutex
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			scr.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(want string) bool {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			got := scr.text()
			mu.Unlock()
			if strings.Contains(got, want) {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}
	g := &globals{stdout: tty}
	g.live = g.startLive(samplePlan(), time.Now())
	if g.live == nil {
		t.Fatal("no live display on a pseudo-terminal")
	}
	g.live.batch(engine.Batch{Number: 1, Hosts: []string{"h1", "h5"}})
	g.resourceStarted("h1", "file.site")
	if !seen("  h1  ") || !seen("file.site") {
		mu.Lock()
		t.Fatalf("no running host line on the terminal:\n%s", scr.text())
	}
	e := engine.Event{Host: "h1", Addr: "file.site", Status: engine.StatusChanged}
	g.live.event(e)
	g.println("h1: file.site changed")
	if !seen("h1: file.site changed\n5 hosts, ") {
		mu.Lock()
		t.Fatalf("the event line is not above the area:\n%s", scr.text())
	}
	g.live.close()
	g.live = nil
	g.println("Apply: done.")
	if !seen("Apply: done.") {
		t.Fatal("output after close did not arrive")
	}
	mu.Lock()
	got := scr.text()
	mu.Unlock()
	if want := "h1: file.site changed\nApply: done."; got != want {
		t.Errorf("screen after the apply:\n%s\n--- want\n%s", got, want)
	}
}
