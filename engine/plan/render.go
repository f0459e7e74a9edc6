package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pinery/pinery/engine/resource"
)

// Style colours plan text; the zero value prints plain text.
type Style struct {
	Add, Change, Remove, Run, Bold, Faint func(string) string
}

func (s Style) paint(f func(string) string, x string) string {
	if f == nil {
		return x
	}
	return f(x)
}

// sensitiveText replaces any value that must not be shown.
const sensitiveText = "(sensitive)"

// WriteText renders the plan for people: per host, each resource that
// changes with its fields and file diffs, then a summary line per host and
// one for the run.
func (p *Plan) WriteText(w io.Writer, st Style) error {
	var b strings.Builder
	for _, h := range p.Hosts {
		c := h.Counts()
		if h.Error != nil {
			fmt.Fprintf(&b, "%s %s\n", st.paint(st.Bold, "host "+h.Host+":"), st.paint(st.Remove, "error: "+h.Error.Error()))
			continue
		}
		if h.Deferred != "" {
			fmt.Fprintf(&b, "%s %s\n", st.paint(st.Bold, "host "+h.Host+":"), st.paint(st.Change, "known after apply: "+h.Deferred+"; planned and applied then"))
			continue
		}
		if c.Changed() == 0 && c.Errors == 0 {
			n := fmt.Sprintf("%d resources", len(h.Resources))
			if len(h.Resources) == 1 {
				n = "1 resource"
			}
			fmt.Fprintf(&b, "%s no changes (%s)\n", st.paint(st.Bold, "host "+h.Host+":"), n)
			continue
		}
		fmt.Fprintf(&b, "%s\n", st.paint(st.Bold, "host "+h.Host+":"))
		for _, r := range h.Resources {
			writeResource(&b, r, st)
		}
		fmt.Fprintf(&b, "  %s\n\n", summary(c, len(h.Resources)))
	}
	c := p.Counts()
	hosts, failed := len(p.Hosts), 0
	for _, h := range p.Hosts {
		if h.Error != nil {
			failed++
		}
	}
	line := fmt.Sprintf("Plan: %d to create, %d to change, %d to remove, %d to run on %d host(s)", c.Create, c.Update, c.Delete, c.Run, hosts)
	if c.Errors > 0 {
		line += fmt.Sprintf("; %d error(s)", c.Errors)
	}
	if failed > 0 {
		line += fmt.Sprintf(", %d host(s) not planned", failed)
	}
	if n := p.Deferred(); n > 0 {
		line += fmt.Sprintf(", %d host(s) known after apply", n)
	}
	fmt.Fprintf(&b, "%s.\n", st.paint(st.Bold, line))
	_, err := io.WriteString(w, b.String())
	return err
}

func summary(c Counts, total int) string {
	s := fmt.Sprintf("%d to create, %d to change, %d to remove, %d to run, %d unchanged", c.Create, c.Update, c.Delete, c.Run, total-c.Changed()-c.Errors)
	if c.Errors > 0 {
		s += fmt.Sprintf(", %d error(s)", c.Errors)
	}
	return s
}

func writeResource(b *strings.Builder, r *ResourcePlan, st Style) {
	if r.Error != nil {
		fmt.Fprintf(b, "  %s %s: %s\n", st.paint(st.Remove, "x"), r.Addr, st.paint(st.Remove, r.Error.Error()))
		return
	}
	if r.Action == resource.NoOp {
		return
	}
	color := map[resource.Action]func(string) string{
		resource.Create: st.Add, resource.Update: st.Change, resource.Delete: st.Remove, resource.Run: st.Run,
	}[r.Action]
	sym := r.Action.Symbol()
	reasons := r.Reasons
	if r.Conditional != "" {
		sym, color, reasons = "?", st.Faint, append([]string{r.Conditional}, reasons...)
	}
	fmt.Fprintf(b, "  %s %s", st.paint(color, sym), st.paint(st.Bold, r.Addr))
	if len(reasons) > 0 {
		fmt.Fprintf(b, " %s", st.paint(st.Faint, "("+strings.Join(reasons, "; ")+")"))
	}
	b.WriteString("\n")
	for _, ch := range r.Changes {
		old, nw := ch.Old, ch.New
		if ch.Sensitive {
			if old != "" {
				old = sensitiveText
			}
			nw = sensitiveText
		}
		switch {
		case old == "" && nw == "":
			fmt.Fprintf(b, "      %s\n", ch.Field)
		case old == "":
			fmt.Fprintf(b, "      %s: %s\n", ch.Field, quoteIfNeeded(nw))
		default:
			fmt.Fprintf(b, "      %s: %s → %s\n", ch.Field, quoteIfNeeded(old), quoteIfNeeded(nw))
		}
	}
	if r.Diff != "" {
		for _, l := range strings.SplitAfter(strings.TrimSuffix(r.Diff, "\n"), "\n") {
			l = strings.TrimSuffix(l, "\n")
			switch {
			case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
				l = st.paint(st.Bold, l)
			case strings.HasPrefix(l, "+"):
				l = st.paint(st.Add, l)
			case strings.HasPrefix(l, "-"):
				l = st.paint(st.Remove, l)
			case strings.HasPrefix(l, "@@"):
				l = st.paint(st.Faint, l)
			}
			fmt.Fprintf(b, "      %s\n", l)
		}
	}
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \t\n\"'") || s == "" {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// JSON document shapes (documented in docs/json.md).
type jsonPlan struct {
	FormatVersion string     `json:"format_version"`
	Hosts         []jsonHost `json:"hosts"`
	Summary       jsonCounts `json:"summary"`
}

type jsonHost struct {
	Host      string         `json:"host"`
	Error     string         `json:"error,omitempty"`
	Deferred  string         `json:"deferred,omitempty"` // known after other hosts' apply: why
	Resources []jsonResource `json:"resources"`
	Summary   jsonCounts     `json:"summary"`
}

type jsonResource struct {
	Address string            `json:"address"`
	Action  string            `json:"action"`
	Changes []resource.Change `json:"changes,omitempty"`
	Diff    string            `json:"diff,omitempty"`
	Reasons []string          `json:"reasons,omitempty"`
	// Conditional: the action happens only if another resource fails.
	Conditional string `json:"conditional,omitempty"`
	Error       string `json:"error,omitempty"`
}

type jsonCounts struct {
	Create int `json:"create"`
	Update int `json:"update"`
	Delete int `json:"delete"`
	Run    int `json:"run"`
	Errors int `json:"errors"`
}

// jsonDoc is the host's part of the JSON plan, sensitive values removed.
func (h *HostPlan) jsonDoc() jsonHost {
	jh := jsonHost{Host: h.Host, Resources: []jsonResource{}, Summary: toJSONCounts(h.Counts())}
	if h.Error != nil {
		jh.Error = h.Error.Error()
	}
	jh.Deferred = h.Deferred
	for _, r := range h.Resources {
		jr := jsonResource{Address: r.Addr, Action: r.Action.String(), Diff: r.Diff, Reasons: r.Reasons, Conditional: r.Conditional}
		if r.Error != nil {
			jr.Action, jr.Error = "error", r.Error.Error()
		}
		for _, ch := range r.Changes {
			if ch.Sensitive {
				ch.Old, ch.New = "", ""
			}
			jr.Changes = append(jr.Changes, ch)
		}
		jh.Resources = append(jh.Resources, jr)
	}
	return jh
}

func toJSONCounts(c Counts) jsonCounts {
	return jsonCounts{Create: c.Create, Update: c.Update, Delete: c.Delete, Run: c.Run, Errors: c.Errors}
}

// WriteJSON renders the plan as one JSON document. Sensitive values are
// replaced before encoding, so they cannot reach the output.
func (p *Plan) WriteJSON(w io.Writer) error {
	doc := jsonPlan{FormatVersion: FormatVersion, Hosts: []jsonHost{}, Summary: toJSONCounts(p.Counts())}
	for _, h := range p.Hosts {
		doc.Hosts = append(doc.Hosts, h.jsonDoc())
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
