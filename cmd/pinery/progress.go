package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/term"
	"golang.org/x/text/width"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/plan"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// Live progress for people. On a terminal (and without NO_COLOR,
// --no-color or --json), apply keeps a status area at the bottom of the
// screen: a header counting the hosts by phase, then one line per running
// host with the resource it is changing. The usual event lines scroll
// above it; when the apply ends the area is erased, so what stays on the
// screen is exactly the plain output. status is the pure part (state in,
// lines out); liveDisplay draws it.

// hostPhase is where a host stands in the apply.
type hostPhase int

const (
	phaseWaiting     hostPhase = iota // changes planned, its batch not started
	phaseRunning                      // its batch started
	phaseDone                         // every planned change reported, none failed
	phaseFailed                       // a resource failed, or it could not be planned
	phaseUnreachable                  // the connection failed
)

type hostStatus struct {
	name    string
	phase   hostPhase
	current string    // the resource being changed ("" before the first)
	since   time.Time // when its batch started
	want    map[string]bool
	total   int // planned changes (len(want) at the start)
	failed  bool
	lost    bool // unreachable during apply
}

// status is what the area shows.
type status struct {
	start   time.Time
	changed int // resources changed so far
	hosts   []*hostStatus
	byName  map[string]*hostStatus
}

// newStatus reads the plan: hosts that could not be planned are failed or
// unreachable, hosts with nothing to do are done, the others wait.
func newStatus(p *plan.Plan, start time.Time) *status {
	s := &status{start: start, byName: map[string]*hostStatus{}}
	for _, hp := range p.Hosts {
		h := &hostStatus{name: clean(hp.Host), want: map[string]bool{}}
		for _, r := range hp.Resources {
			if r.Error != nil || r.Action != resource.NoOp && r.Conditional == "" {
				h.want[r.Addr] = true
			}
		}
		h.total = len(h.want)
		switch {
		case errors.Is(hp.Error, transport.ErrUnreachable):
			h.phase = phaseUnreachable
		case hp.Error != nil:
			h.phase = phaseFailed
		case h.total == 0:
			h.phase = phaseDone
		}
		s.hosts = append(s.hosts, h)
		s.byName[hp.Host] = h
	}
	return s
}

// batch starts the hosts of a batch. The hosts of the batch before have
// finished by then, or wait for a later stage's part of their changes.
func (s *status) batch(names []string, now time.Time) {
	for _, h := range s.hosts {
		if h.phase == phaseRunning {
			h.finish()
		}
	}
	for _, n := range names {
		if h := s.byName[n]; h != nil && h.phase == phaseWaiting {
			h.phase, h.since = phaseRunning, now
		}
	}
}

// started records the resource a host is changing now.
func (s *status) started(host, addr string, now time.Time) {
	h := s.byName[host]
	if h == nil {
		return
	}
	if h.phase != phaseRunning {
		// A refresh after the planned changes, or a host the batch
		// callback did not name.
		if h.since.IsZero() {
			h.since = now
		}
		h.phase = phaseRunning
	}
	h.current = clean(addr)
}

// event records a resource's outcome. A host counts as finished once every
// planned change has reported (a refresh after that makes it run again,
// see started), or when the engine says its apply ended (finished).
func (s *status) event(e engine.Event) {
	if e.Status == engine.StatusChanged {
		s.changed++
	}
	h := s.byName[e.Host]
	if h == nil {
		return
	}
	if e.Status == engine.StatusFailed {
		h.failed = true
		h.lost = h.lost || errors.Is(e.Err, transport.ErrUnreachable)
	}
	delete(h.want, e.Addr)
	if len(h.want) == 0 && h.phase == phaseRunning {
		h.finish()
	}
}

// finished ends a host's apply (or its part of a stage) as the engine
// reports it: whatever the events said, it no longer runs.
func (s *status) finished(res engine.HostResult) {
	h := s.byName[res.Host]
	if h == nil {
		return
	}
	h.failed = h.failed || res.Failed > 0 || res.Err != nil
	h.lost = h.lost || errors.Is(res.Err, transport.ErrUnreachable)
	h.current = ""
	h.finish()
}

func (h *hostStatus) finish() {
	switch {
	case len(h.want) > 0 && !h.failed && !h.lost:
		h.phase = phaseWaiting // staged: the rest comes in a later stage
	case h.lost:
		h.phase = phaseUnreachable
	case h.failed:
		h.phase = phaseFailed
	default:
		h.phase = phaseDone
	}
}

// lines renders the area for a terminal of width x height: never wider
// than width-1 columns (writing the last column makes some terminals wrap)
// and never more than height-1 lines (the cursor must be able to move back
// to the area's top, which cannot be in the scrollback).
func (s *status) lines(now time.Time, width, height int) []string {
	if width < 2 || height < 2 {
		return nil
	}
	var n [phaseUnreachable + 1]int
	var running []*hostStatus
	for _, h := range s.hosts {
		n[h.phase]++
		if h.phase == phaseRunning {
			running = append(running, h)
		}
	}
	head := fmt.Sprintf("%s, %s: %d done, %d running", plural(len(s.hosts), "host", "hosts"),
		elapsed(now.Sub(s.start)), n[phaseDone], n[phaseRunning])
	for _, c := range []struct {
		n    int
		what string
	}{{n[phaseWaiting], "waiting"}, {n[phaseFailed], "failed"}, {n[phaseUnreachable], "unreachable"}} {
		if c.n > 0 {
			head += fmt.Sprintf(", %d %s", c.n, c.what)
		}
	}
	head += fmt.Sprintf("; %d changed", s.changed)
	out := []string{truncate(head, width-1)}
	room := height - 2 // lines left under the header
	if len(running) > room {
		room-- // for "+K more"
	}
	if room < 0 {
		return out
	}
	// Names line up, within a third of the width: the resource matters more.
	nameW, progW := 0, 0
	for _, h := range running[:min(room, len(running))] {
		nameW = max(nameW, min(textWidth(h.name), 24, max(8, width/3)))
		progW = max(progW, len(progressOf(h)))
	}
	for i, h := range running {
		if i == room {
			out = append(out, truncate(fmt.Sprintf("  +%d more running", len(running)-room), width-1))
			break
		}
		cur := h.current
		if cur == "" {
			cur = "starting"
		}
		line := fmt.Sprintf("  %s %6s  %*s  %s", pad(truncate(h.name, nameW), nameW), elapsed(now.Sub(h.since)), progW, progressOf(h), cur)
		out = append(out, truncate(line, width-1))
	}
	return out
}

// progressOf is "reported/planned" changes of a host.
func progressOf(h *hostStatus) string {
	return fmt.Sprintf("%d/%d", h.total-len(h.want), h.total)
}

func elapsed(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
}

// clean replaces control characters, which would move the cursor.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// runeWidth is the number of terminal columns r takes.
func runeWidth(r rune) int {
	if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) {
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

func textWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// truncate cuts s to at most w columns, ending it with "…" when cut.
func truncate(s string, w int) string {
	if textWidth(s) <= w {
		return s
	}
	if w <= 0 {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n+runeWidth(r) > w-1 {
			break
		}
		n += runeWidth(r)
		b.WriteRune(r)
	}
	return b.String() + "…"
}

func pad(s string, w int) string {
	return s + strings.Repeat(" ", max(0, w-textWidth(s)))
}

// liveDisplay draws a status on a terminal: at most ten frames a second,
// each one write, rewriting only the lines that changed.
type liveDisplay struct {
	mu      sync.Mutex
	w       io.Writer
	size    func() (width, height int)
	now     func() time.Time
	st      plan.Style
	status  *status
	pending []string // lines to print above the area at the next frame
	drawn   []string // the area's lines on the screen
	stop    chan struct{}
	done    chan struct{} // closed when loop returns; nil without a loop
}

// frameEvery paces the redraws.
const frameEvery = 100 * time.Millisecond

// startLive starts a status area on standard output when it is a
// terminal that takes colours (the conditions of useColor) and apply
// writes text; otherwise it returns nil and output stays plain.
func (g *globals) startLive(p *plan.Plan, start time.Time) *liveDisplay {
	f, ok := g.stdout.(*os.File)
	if g.jsonEvents || !g.useColor() || !ok || os.Getenv("TERM") == "dumb" {
		return nil
	}
	if _, _, err := term.GetSize(int(f.Fd())); err != nil {
		return nil
	}
	size := func() (int, int) {
		w, h, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0, 0 // no area rather than a wrong one
		}
		return w, h
	}
	d := newLiveDisplay(f, size, time.Now, g.style(), newStatus(p, start))
	d.done = make(chan struct{})
	go d.loop()
	return d
}

func newLiveDisplay(w io.Writer, size func() (int, int), now func() time.Time, st plan.Style, s *status) *liveDisplay {
	return &liveDisplay{w: w, size: size, now: now, st: st, status: s, stop: make(chan struct{})}
}

func (d *liveDisplay) loop() {
	defer close(d.done)
	t := time.NewTicker(frameEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.mu.Lock()
			d.frame(false)
			d.mu.Unlock()
		case <-d.stop:
			return
		}
	}
}

// println prints a line of the plain output, above the area.
func (g *globals) println(line string) {
	if d := g.live; d != nil {
		d.mu.Lock()
		d.pending = append(d.pending, line)
		d.mu.Unlock()
		return
	}
	fmt.Fprintln(g.stdout, line)
}

// resourceStarted is engine.Options.Started.
func (g *globals) resourceStarted(host, addr string) {
	if d := g.live; d != nil {
		d.mu.Lock()
		d.status.started(host, addr, d.now())
		d.mu.Unlock()
	}
}

// hostFinished is engine.Options.Finished.
func (g *globals) hostFinished(res engine.HostResult) {
	if d := g.live; d != nil {
		d.mu.Lock()
		d.status.finished(res)
		d.mu.Unlock()
	}
}

func (d *liveDisplay) batch(b engine.Batch) {
	if d != nil {
		d.mu.Lock()
		d.status.batch(b.Hosts, d.now())
		d.mu.Unlock()
	}
}

func (d *liveDisplay) event(e engine.Event) {
	if d != nil {
		d.mu.Lock()
		d.status.event(e)
		d.mu.Unlock()
	}
}

// close prints what is pending and erases the area.
func (d *liveDisplay) close() {
	if d == nil {
		return
	}
	close(d.stop)
	if d.done != nil {
		<-d.done
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.frame(true)
}

// frame writes the pending lines and the area (none when last) in one
// write. The cursor rests at the start of the line under the area.
func (d *liveDisplay) frame(last bool) {
	var next []string
	if !last {
		w, h := d.size()
		next = d.status.lines(d.now(), w, h)
		if len(next) > 0 {
			next[0] = paint(d.st.Bold, next[0])
		}
	}
	if len(d.pending) == 0 && slices.Equal(next, d.drawn) {
		return
	}
	var b strings.Builder
	b.WriteString("\x1b[?25l") // no cursor dancing over the lines
	if len(d.drawn) > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", len(d.drawn))
	}
	shifted := len(d.pending) > 0
	if shifted {
		// Clear the area first: a printed line may span several rows
		// (an error with its stderr), each over an old line of the area.
		b.WriteString("\x1b[J")
	}
	for _, l := range d.pending {
		b.WriteString(l + "\n")
	}
	for i, l := range next {
		if !shifted && i < len(d.drawn) && d.drawn[i] == l {
			b.WriteString("\n") // unchanged: move down over it
			continue
		}
		b.WriteString(l + "\x1b[K\n")
	}
	b.WriteString("\x1b[J\x1b[?25h") // what is left of a longer area; the cursor back
	io.WriteString(d.w, b.String())
	d.pending, d.drawn = nil, next
}
