package inventory

import (
	"strings"
	"testing"
	"time"
)

func TestPowerBlocks(t *testing.T) {
	inv, diags := Parse([]byte(`
defaults {
  power {
    via    = "front"
    on     = "relay on ${host.name}"
    off    = "relay off ${host.name}"
    status = "relay status ${host.address}"
  }
}
host "front" {
  address = "10.0.0.1"
  power {
    via = ""
    on  = "pdu on 1"
    off = "pdu off 1"
  }
}
host "b1" {
  address = "10.0.0.11"
}
host "b2" {
  power {
    cycle        = "relay cycle b2"
    wait         = "2s"
    boot_timeout = "90s"
  }
}
`), "inv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	// Attributes merge one by one, a host's over the defaults' (front keeps
	// the defaults' status command).
	for name, want := range map[string]Power{
		"front": {On: "pdu on 1", Off: "pdu off 1", Status: "relay status 10.0.0.1", Wait: DefaultPowerWait, BootTimeout: DefaultBootTimeout},
		"b1":    {Via: "front", On: "relay on b1", Off: "relay off b1", Status: "relay status 10.0.0.11", Wait: DefaultPowerWait, BootTimeout: DefaultBootTimeout},
		"b2":    {Via: "front", On: "relay on b2", Off: "relay off b2", Cycle: "relay cycle b2", Status: "relay status b2", Wait: 2 * time.Second, BootTimeout: 90 * time.Second},
	} {
		h, _ := inv.Host(name)
		if h == nil || h.Power == nil || *h.Power != want {
			t.Errorf("%s: power %+v, want %+v", name, h.Power, want)
		}
	}
}

func TestPowerErrors(t *testing.T) {
	block := func(body string) string { return "host \"a\" {\n  power {\n" + body + "\n  }\n}\n" }
	for name, tc := range map[string]struct{ src, want string }{
		"no off":       {block(`on = "x"`), "needs both on and off"},
		"unknown via":  {block("via = \"b\"\non = \"x\"\noff = \"y\""), `power.via names "b", which is not in the inventory`},
		"itself":       {block("via = \"a\"\non = \"x\"\noff = \"y\""), "cannot switch itself back on"},
		"bad duration": {block("on = \"x\"\noff = \"y\"\nwait = \"soon\""), `power.wait must be a duration`},
		"two blocks":   {"host \"a\" {\n  power {\n on = \"x\"\n off = \"y\"\n }\n  power {\n on = \"x\"\n off = \"y\"\n }\n}\n", "Duplicate power block"},
		"unknown var":  {block("on = \"x ${host.port}\"\noff = \"y\""), "Unsupported attribute"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Parse([]byte(tc.src), "inv.hcl")
			var all []string
			for _, d := range diags {
				all = append(all, d.Error())
			}
			if !diags.HasErrors() || !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Fatalf("diagnostics %v, want %q", diags, tc.want)
			}
			if !strings.Contains(diags.Error(), "inv.hcl:") {
				t.Errorf("no position: %v", diags)
			}
		})
	}
}
