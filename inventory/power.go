package inventory

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Power says how to switch a host off, on and through a power cycle out
// of band: commands run on the controller or on another inventory host (a
// relay or GPIO on the front node, a smart PDU's HTTP API called with
// curl), for the board that hangs so hard only its power brings it back.
type Power struct {
	// Via is the inventory host the commands run on; "" for the
	// controller (through sh -c, as the user running pinery).
	Via string
	// On and Off are required; Cycle defaults to Off, a pause of Wait, On;
	// Status, when set, exits 0 for a host that is on and 1 when it is off.
	On, Off, Cycle, Status string
	Wait                   time.Duration // between Off and On of a cycle
	BootTimeout            time.Duration // how long a host may take to answer SSH after On
}

// Defaults of a power block.
const (
	DefaultPowerWait   = 5 * time.Second
	DefaultBootTimeout = 3 * time.Minute
)

var powerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "via"}, {Name: "on"}, {Name: "off"}, {Name: "cycle"}, {Name: "status"},
	{Name: "wait"}, {Name: "boot_timeout"},
}}

// powerBlocks reads the power blocks of a defaults or host block: their
// attributes, evaluated per host later (they may use host.name and
// host.address).
func (p *parser) powerBlocks(blocks hcl.Blocks) hcl.Attributes {
	var out hcl.Attributes
	for i, b := range blocks {
		if i > 0 {
			p.errorf(b.DefRange, "Duplicate power block", "A host or defaults block has at most one power block; the first is at %s.", blocks[0].DefRange)
			continue
		}
		c, diags := b.Body.Content(powerSchema)
		p.diags = append(p.diags, diags...)
		out = c.Attributes
	}
	return out
}

// power evaluates a host's power block: its own attributes over the
// defaults' ones, one by one (a host may change only its cycle command).
// nil when neither has any.
func (p *parser) power(h *Host, own, defaults hcl.Attributes) *Power {
	attrs := hcl.Attributes{}
	for k, a := range defaults {
		attrs[k] = a
	}
	for k, a := range own {
		attrs[k] = a
	}
	if len(attrs) == 0 {
		return nil
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"host": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(h.Name), "address": cty.StringVal(h.Address)}),
	}}
	pw := &Power{Wait: DefaultPowerWait, BootTimeout: DefaultBootTimeout}
	bad := false
	str := func(name string) (string, *hcl.Attribute) {
		a, ok := attrs[name]
		if !ok {
			return "", nil
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			p.diags = append(p.diags, diags...)
			bad = true
			return "", nil
		}
		s, err := convert.Convert(v, cty.String)
		if err != nil || s.IsNull() || !s.IsWhollyKnown() {
			p.errorf(a.Expr.Range(), "Incorrect attribute value type", "power.%s must be a string (it may use host.name and host.address).", name)
			bad = true
			return "", nil
		}
		return s.AsString(), a
	}
	pw.Via, _ = str("via")
	pw.On, _ = str("on")
	pw.Off, _ = str("off")
	pw.Cycle, _ = str("cycle")
	pw.Status, _ = str("status")
	for name, dst := range map[string]*time.Duration{"wait": &pw.Wait, "boot_timeout": &pw.BootTimeout} {
		if s, a := str(name); a != nil {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				p.errorf(a.Expr.Range(), "Invalid duration", "power.%s must be a duration such as \"5s\" or \"3m\"; %q is not.", name, s)
				continue
			}
			*dst = d
		}
	}
	if bad {
		return nil
	}
	if pw.On == "" || pw.Off == "" {
		p.errorf(h.DeclRange, "Incomplete power block",
			"Host %s: a power block needs both on and off commands (cycle and status are optional).", h.Name)
		return nil
	}
	return pw
}

// checkPower reports power blocks run via a host that is not in the
// inventory, or via the host itself (it cannot power itself back on).
func (p *parser) checkPower(inv *Inventory) {
	for _, h := range inv.Hosts {
		if h.Power == nil || h.Power.Via == "" {
			continue
		}
		switch _, ok := inv.byName[h.Power.Via]; {
		case !ok:
			p.errorf(h.DeclRange, "Unknown power host", "Host %s: power.via names %q, which is not in the inventory. Name an inventory host, or leave via out to run the commands on the controller.", h.Name, h.Power.Via)
		case h.Power.Via == h.Name:
			p.errorf(h.DeclRange, "Host powers itself", "Host %s: power.via names the host itself, which cannot switch itself back on. Name another host, or leave via out for the controller.", h.Name)
		}
	}
}
