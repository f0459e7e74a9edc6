package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/plan"
)

// The apply stream (apply --json): one JSON object per line, each with a
// "type": "plan" (the plan document of plan --json), "event" (a resource
// changed, failed or was skipped, as it happens), "refused" (a saved plan's
// host that drifted), then one "summary". Documented in docs/json.md.

// writePlan prints the plan as text, or as the stream's first line.
func (g *globals) writePlan(p *plan.Plan) error {
	if !g.jsonEvents {
		return p.WriteText(g.stdout, g.style())
	}
	var doc json.RawMessage
	if err := p.WriteJSON(jsonSink{&doc}); err != nil {
		return err
	}
	return g.emit(map[string]any{"type": "plan", "plan": doc})
}

func (g *globals) emitEvent(e engine.Event) {
	m := map[string]any{"type": "event", "host": e.Host, "address": e.Addr, "action": e.Action.String(), "status": string(e.Status)}
	if e.Note != "" {
		m["note"] = e.Note
	}
	if e.Err != nil {
		m["error"] = e.Err.Error()
	}
	_ = g.emit(m)
}

func (g *globals) emitSummary(results []engine.HostResult, changed int, took time.Duration) {
	hosts := []map[string]any{}
	failed := 0
	for _, r := range results {
		h := map[string]any{"host": r.Host, "changed": r.Changed, "failed": r.Failed, "skipped": r.Skipped}
		if r.Err != nil {
			h["error"] = r.Err.Error()
		}
		if r.Err != nil || r.Failed > 0 {
			failed++
		}
		hosts = append(hosts, h)
	}
	_ = g.emit(map[string]any{"type": "summary", "changed": changed, "hosts_failed": failed, "hosts": hosts, "seconds": took.Seconds()})
}

func (g *globals) emit(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.stdout, "%s\n", b)
	return err
}

// jsonSink collects what WriteJSON writes, compacted to one line.
type jsonSink struct{ dst *json.RawMessage }

func (s jsonSink) Write(b []byte) (int, error) {
	*s.dst = append(*s.dst, b...)
	return len(b), nil
}
