package reboot

import (
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/resource"
	"github.com/zclconf/go-cty/cty"
)

func cfg(vals map[string]cty.Value) resource.Config {
	t, _ := resource.Lookup("reboot")
	c := resource.Config{Values: map[string]cty.Value{}}
	for _, f := range t.Fields {
		c.Values[f.Name] = f.Default
	}
	for k, v := range vals {
		c.Values[k] = v
	}
	return c
}

func TestNew(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		err  string
	}{
		"defaults":      {nil, ""},
		"watch only":    {map[string]cty.Value{"if_exists": cty.StringVal("")}, ""},
		"relative path": {map[string]cty.Value{"if_exists": cty.StringVal("run/x")}, "must be an absolute path"},
		"short timeout": {map[string]cty.Value{"timeout": cty.NumberIntVal(3)}, "at least 10 seconds"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(cfg(tc.vals))
			if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	r, err := New(cfg(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Probe(), "'/run/reboot-required'") && !strings.Contains(r.Probe(), " /run/reboot-required ") {
		t.Errorf("probe %q does not test the flag file", r.Probe())
	}
	for out, want := range map[string]resource.Action{"": resource.NoOp, "required\n": resource.Run} {
		d, err := r.Plan(resource.ProbeResult{Stdout: []byte(out)})
		if err != nil || d.Action != want {
			t.Errorf("probe %q: %v %v, want %v", out, d, err, want)
		}
	}
	if _, err := r.Plan(resource.ProbeResult{ExitCode: 2}); err == nil {
		t.Error("a failed probe planned")
	}
	w, _ := New(cfg(map[string]cty.Value{"if_exists": cty.StringVal("")}))
	if w.Probe() != "true" {
		t.Errorf("watch-only probe %q", w.Probe())
	}
}
