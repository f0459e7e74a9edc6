// Package resource is the contract between the engine and the modules.
//
// A module declares a Type: its fields (the schema, which also produces its
// reference page) and a constructor. The engine decodes a resource block
// against the schema, builds an instance per host, and drives it in three
// steps:
//
//  1. Probe: a read-only shell snippet. The engine concatenates the snippets
//     of every resource of a host into one script run in one SSH session.
//  2. Plan: the instance compares the snippet's output with the desired state
//     and returns a printable Diff. An empty diff means converged.
//  3. Apply: the instance changes exactly what the diff says.
//
// Optional behaviour lives in small interfaces (Refresher, Aggregator) that
// the engine finds by type assertion.
package resource

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/zclconf/go-cty/cty"
)

// Field is one attribute of a resource type's schema.
type Field struct {
	Name      string
	Type      cty.Type
	Required  bool
	Default   cty.Value // cty.NilVal when there is none
	Doc       string
	Sensitive bool // its value never appears in any output
}

// Type is a resource type, registered by its module.
type Type struct {
	Name    string // the block type in HCL: "file", "package"
	Summary string // one line for the reference index
	Doc     string // longer text for the reference page (Markdown)
	Example string // an HCL example for the reference page
	Fields  []Field
	// Computed lists the attributes an instance reads from its host
	// (Reader): expressions see them as TYPE.NAME.ATTR, known once the
	// host is probed. Their Sensitive is ignored: they are sensitive when
	// the instance's own `sensitive` field is true.
	Computed []Field
	// Refresh, when set, names what a watch-triggered refresh does
	// ("restart", "run"); the type's instances implement Refresher.
	Refresh string
	// New builds an instance from decoded, defaulted, unmarked values.
	New func(cfg Config) (Resource, error)
}

// Resource is one configured resource on one host.
type Resource interface {
	// Probe returns a POSIX sh snippet that prints the current state on
	// stdout. It must not change anything. Its exit status is given to Plan.
	Probe() string
	// Plan compares the probe's output with the desired state.
	Plan(out ProbeResult) (*Diff, error)
	// Apply changes the host so that the diff is empty afterwards.
	Apply(ctx context.Context, h Runner, d *Diff) error
}

// Refresher is implemented by resources that react to a watched resource's
// change: a service restarts, an exec runs. Refresh says what it did
// ("restarted", "reloaded", "ran"), or "" when there was nothing to do (the
// service was just started by this run, a guard said skip).
type Refresher interface {
	Refresh(ctx context.Context, h Runner) (string, error)
}

// Reconnector is implemented by resources after whose change (or
// refresh) the host must be reached anew: a reboot. The engine calls
// Reconnect with a way to dial the host again, and carries on the run with
// the last runner dial returned once Reconnect returns without error.
type Reconnector interface {
	Reconnect(ctx context.Context, dial func(context.Context) (Runner, error)) error
}

// Reader is implemented by resources whose type has Computed attributes:
// Read turns the output of the resource's probe (or of its Probe snippet
// run again after apply) into their values.
type Reader interface {
	Read(out ProbeResult) (map[string]cty.Value, error)
}

// Aggregator is implemented by resources whose changes are cheaper applied
// together (one apt transaction for all packages, one session for all
// files). The engine passes every ready resource of the same type with its
// diff; a failure of some of them is reported as Errors.
type Aggregator interface {
	ApplyAll(ctx context.Context, h Runner, rs []Resource, ds []*Diff) error
}

// BatchProber is implemented by resources whose probes are cheaper run
// together: one stat and one sha256sum over every file of a host instead of
// two processes per file. The engine passes every resource of the host of
// the same type (the receiver among them); the returned snippet replaces
// their Probe snippets, and split turns its output into the result each
// resource's own Probe would have produced, in the order of rs.
type BatchProber interface {
	ProbeAll(rs []Resource) (snippet string, split func(ProbeResult) ([]ProbeResult, error))
}

// Errors is what ApplyAll returns when the resources of a group fared
// differently: one entry per resource, nil for those applied. Any other
// error fails the whole group.
type Errors []error

func (e Errors) Error() string {
	var msgs []string
	for _, err := range e {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	return strings.Join(msgs, "; ")
}

// ProbeResult is what a probe snippet produced.
type ProbeResult struct {
	Stdout   []byte
	ExitCode int
}

// Action is what a plan will do to a resource.
type Action int

const (
	NoOp   Action = iota
	Create        // +
	Update        // ~
	Delete        // -
	Run           // ! (a command, a restart)
)

// Symbol is the one-character mark used in plan output.
func (a Action) Symbol() string {
	return [...]string{" ", "+", "~", "-", "!"}[a]
}

func (a Action) String() string {
	return [...]string{"no-op", "create", "update", "delete", "run"}[a]
}

// Change is one field that differs.
type Change struct {
	Field     string `json:"field"`
	Old       string `json:"old,omitempty"`
	New       string `json:"new,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Diff is the printable difference between a host and the desired state.
type Diff struct {
	Action  Action
	Changes []Change
	// TextDiff is a unified diff of a file's content, empty when not
	// applicable or when the content is sensitive.
	TextDiff string
	// Private carries what Apply needs from the probe; never rendered.
	Private any
}

// Empty reports whether nothing needs to change.
func (d *Diff) Empty() bool { return d == nil || d.Action == NoOp }

// Runner is the part of a host a module may use: run a command with stdin.
// Commands run through sh on the target (as root via sudo when needed).
type Runner interface {
	Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error)
}

// Result of a command on a host.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Err turns a non-zero exit into an error that quotes stderr (trimmed).
func (r Result) Err(what string) error {
	if r.ExitCode == 0 {
		return nil
	}
	msg := trimOutput(r.Stderr)
	if msg == "" {
		msg = trimOutput(r.Stdout)
	}
	if msg == "" {
		return fmt.Errorf("%s: exit status %d", what, r.ExitCode)
	}
	if diskFull(r.Stderr) || diskFull(r.Stdout) {
		return fmt.Errorf("%s: %w; free space there and run again (exit status %d: %s)", what, ErrDiskFull, r.ExitCode, msg)
	}
	return fmt.Errorf("%s: exit status %d: %s", what, r.ExitCode, msg)
}

func trimOutput(b []byte) string {
	const max = 2000
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}

var (
	mu       sync.RWMutex
	registry = map[string]*Type{}
)

// Register adds a resource type. It panics on programmer mistakes, like
// database/sql.Register, because they can only happen at init time.
func Register(t *Type) {
	mu.Lock()
	defer mu.Unlock()
	if t.Name == "" || t.New == nil {
		panic("resource: Register with empty name or nil constructor")
	}
	if _, dup := registry[t.Name]; dup {
		panic("resource: Register called twice for " + t.Name)
	}
	seen := map[string]bool{}
	for _, f := range t.Fields {
		if seen[f.Name] || f.Type == cty.NilType {
			panic(fmt.Sprintf("resource: %s: duplicate or untyped field %q", t.Name, f.Name))
		}
		seen[f.Name] = true
	}
	registry[t.Name] = t
}

// Lookup finds a registered type.
func Lookup(name string) (*Type, bool) {
	mu.RLock()
	defer mu.RUnlock()
	t, ok := registry[name]
	return t, ok
}

// Types lists the registered types by name.
func Types() []*Type {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]*Type, 0, len(registry))
	for _, t := range registry {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
