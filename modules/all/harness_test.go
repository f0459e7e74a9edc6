package all_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/probe"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

// stage is how far a resource built from a hostile value got.
type stage int

const (
	pending     stage = iota // not driven (a bug of the test)
	rejected                 // its constructor refused it with a FieldError
	planFailed               // its plan was an error
	applyFailed              // its apply was an error
	converged                // applied, and a second plan is empty
)

func (s stage) String() string {
	return [...]string{"pending", "rejected", "plan failed", "apply failed", "converged"}[s]
}

// hcase is one resource whose field holds a hostile value, what it may
// come to, and how to read its result back from the host.
type hcase struct {
	typ    string
	vals   map[string]cty.Value
	sens   []string // fields marked sensitive (as by a sensitive variable)
	field  string   // the field holding the hostile value
	value  hostile
	allow  []stage // outcomes that are right for this value
	errHas string  // what a plan or apply error must say
	// check reads a converged resource's result back from the host.
	check func(h resource.Runner) error

	r        resource.Resource
	d        *resource.Diff
	got      stage
	err      error
	checked  bool
	checkErr error
}

// readBack runs check once, on a converged case.
func (c *hcase) readBack(h resource.Runner) {
	if c.got == converged && c.check != nil && !c.checked {
		c.checked, c.checkErr = true, c.check(h)
	}
}

func (c *hcase) String() string { return fmt.Sprintf("%s.%s[%s]", c.typ, c.field, c.value.name) }

// expect sets what the case may come to.
func (c *hcase) expect(errHas string, allow ...stage) *hcase {
	c.allow, c.errHas = allow, errHas
	return c
}

// drive takes the cases through what the engine does: build, one batched
// probe script for all (BatchProber as the engine uses it), plan, apply
// (ApplyAll for an Aggregator), then probe and plan again, which must be
// empty. serial does this one resource at a time, for types whose
// resources edit one shared file (fstab) and so cannot share a plan.
func drive(t *testing.T, h resource.Runner, cases []*hcase, serial bool) {
	t.Helper()
	var live []*hcase
	for _, c := range cases {
		if c.build(t) {
			live = append(live, c)
		}
	}
	if serial {
		// Each is read back at once: a later case may change the same thing.
		for _, c := range live {
			converge(t, h, []*hcase{c})
			c.readBack(h)
		}
	} else {
		converge(t, h, live)
	}
	verify(t, h, cases)
}

func (c *hcase) build(t *testing.T) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s: the constructor panicked: %v", c, p)
			ok = false
		}
	}()
	typ, found := resource.Lookup(c.typ)
	if !found {
		t.Fatalf("type %s not registered", c.typ)
	}
	r, err := typ.New(resourcetest.Config(t, c.typ, t.TempDir(), c.vals, c.sens...))
	if err != nil {
		c.got, c.err = rejected, err
		return false
	}
	c.r = r
	return true
}

func converge(t *testing.T, h resource.Runner, cs []*hcase) {
	t.Helper()
	if len(cs) == 0 {
		return
	}
	outs := probeAll(t, h, cs)
	var planned []*hcase
	for i, c := range cs {
		d, err := c.r.Plan(outs[i])
		if err != nil {
			c.got, c.err = planFailed, err
			continue
		}
		c.d = d
		planned = append(planned, c)
	}
	applied := apply(h, planned)
	if len(applied) == 0 {
		return
	}
	outs = probeAll(t, h, applied)
	for i, c := range applied {
		d, err := c.r.Plan(outs[i])
		switch {
		case err != nil:
			c.got, c.err = applyFailed, fmt.Errorf("plan after apply: %w", err)
		case !d.Empty():
			c.got, c.err = applyFailed, fmt.Errorf("not converged after apply: %v", d.Changes)
		default:
			c.got = converged
		}
	}
}

// probeAll runs the probes of cs in one framed script, as the engine does.
func probeAll(t *testing.T, h resource.Runner, cs []*hcase) []resource.ProbeResult {
	t.Helper()
	rs := make([]resource.Resource, len(cs))
	for i, c := range cs {
		rs[i] = c.r
	}
	bp, batch := rs[0].(resource.BatchProber)
	batch = batch && len(rs) > 1
	var snippets []string
	var split func(resource.ProbeResult) ([]resource.ProbeResult, error)
	if batch {
		s, f := bp.ProbeAll(rs)
		snippets, split = []string{s}, f
	} else {
		for _, r := range rs {
			snippets = append(snippets, r.Probe())
		}
	}
	script := probe.New(snippets)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := h.Run(ctx, "exec sh -s", strings.NewReader(script.Text))
	if err == nil {
		err = res.Err("probe")
	}
	if err != nil {
		t.Fatalf("%s probes: %v", cs[0].typ, err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("%s probes wrote on stderr: %s", cs[0].typ, res.Stderr)
	}
	outs, err := script.Parse(res.Stdout)
	if err == nil && batch {
		outs, err = split(outs[0])
	}
	if err == nil && len(outs) != len(cs) {
		err = fmt.Errorf("%d results for %d resources", len(outs), len(cs))
	}
	if err != nil {
		t.Fatalf("%s probes: %v", cs[0].typ, err)
	}
	return outs
}

// apply applies the planned cases and returns those that did not fail.
func apply(h resource.Runner, cs []*hcase) []*hcase {
	if len(cs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if agg, ok := cs[0].r.(resource.Aggregator); ok {
		rs := make([]resource.Resource, len(cs))
		ds := make([]*resource.Diff, len(cs))
		for i, c := range cs {
			rs[i], ds[i] = c.r, c.d
		}
		err := agg.ApplyAll(ctx, h, rs, ds)
		var errs resource.Errors
		for i, c := range cs {
			switch {
			case errors.As(err, &errs):
				c.err = errs[i]
			default:
				c.err = err
			}
		}
	} else {
		for _, c := range cs {
			c.err = c.r.Apply(ctx, h, c.d)
		}
	}
	var ok []*hcase
	for _, c := range cs {
		if c.err != nil {
			c.got = applyFailed
			continue
		}
		ok = append(ok, c)
	}
	return ok
}

// verify checks each case's outcome against what it allows, its error
// against what it must say (and must not: a sensitive value), and reads
// converged ones back.
func verify(t *testing.T, h resource.Runner, cases []*hcase) {
	t.Helper()
	if len(cases) == 0 {
		return
	}
	count := map[stage]int{}
	for _, c := range cases {
		count[c.got]++
		allow := c.allow
		if allow == nil {
			allow = []stage{rejected, converged}
		}
		if !slices.Contains(allow, c.got) {
			t.Errorf("%s: %s (%s), want %v", c, c.got, truncate(fmt.Sprint(c.err), 300), allow)
			continue
		}
		if c.err != nil {
			msg := c.err.Error()
			var fe *resource.FieldError
			switch {
			case c.got == rejected && (!errors.As(c.err, &fe) || fe.Field != c.field || fe.Msg == ""):
				t.Errorf("%s: rejected without a FieldError for %s: %s", c, c.field, truncate(msg, 300))
			case c.got != rejected && c.errHas != "" && !strings.Contains(msg, c.errHas):
				t.Errorf("%s: %s: %q does not say %q", c, c.got, truncate(msg, 300), c.errHas)
			}
			if c.sensitive() && strings.Contains(msg, c.value.s) {
				t.Errorf("%s: the error shows the sensitive value: %s", c, msg)
			}
		}
		if c.d != nil && c.sensitive() {
			for _, ch := range c.d.Changes {
				if strings.Contains(ch.Old+ch.New, c.value.s) {
					t.Errorf("%s: the plan shows the sensitive value in %s", c, ch.Field)
				}
			}
			if strings.Contains(c.d.TextDiff, c.value.s) {
				t.Errorf("%s: the diff shows the sensitive value", c)
			}
		}
		c.readBack(h)
		if c.checkErr != nil {
			t.Errorf("%s: converged, but read back: %s", c, truncate(c.checkErr.Error(), 300))
		}
	}
	t.Logf("%s: %d converged, %d rejected, %d plan errors, %d apply errors",
		cases[0].typ, count[converged], count[rejected], count[planFailed], count[applyFailed])
}

// sensitive reports whether the case's value is secret and distinctive
// enough that finding it in a message means it leaked.
func (c *hcase) sensitive() bool {
	return slices.Contains(c.sens, c.field) && len(c.value.s) >= 6
}

// run runs a command on h and returns its stdout, or an error quoting
// stderr.
func run(h resource.Runner, cmd string) (string, error) {
	res, err := h.Run(context.Background(), cmd, nil)
	if err != nil {
		return "", err
	}
	if err := res.Err(truncate(cmd, 200)); err != nil {
		return "", err
	}
	return string(res.Stdout), nil
}

func mustRun(t *testing.T, h resource.Runner, cmd string) string {
	t.Helper()
	out, err := run(h, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readFile returns a file's bytes on h, exactly (base64 keeps a trailing
// line break and any byte).
func readFile(h resource.Runner, path string) ([]byte, error) {
	out, err := run(h, "base64 -w0 <"+q(path))
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(out)
}

// sameFile checks that path holds exactly want.
func sameFile(h resource.Runner, path, want string) error {
	got, err := readFile(h, path)
	if err != nil {
		return err
	}
	if string(got) != want {
		return fmt.Errorf("%s holds %q, want %q", path, truncate(string(got), 80), truncate(want, 80))
	}
	return nil
}

func q(s string) string { return shellescape.Quote(s) }

func str(s string) cty.Value { return cty.StringVal(s) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
