package eval

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/resource"
)

// AfterApply marks a value that a host reads from itself (a capture's
// attribute) and that is not known yet: it is read once Host has been
// applied (or probed). It travels with the value through expressions, role
// inputs and outputs, and across hosts through `outputs`.
type AfterApply struct{ Host string }

// withComputed adds a node's computed attributes (its type's Computed) to
// the value expressions see: what the host's capture read, else unknown
// until after apply. They are sensitive when the node's `sensitive` is.
func withComputed(n *Node, scope Scope, cfg resource.Config) cty.Value {
	if len(n.Res.Type.Computed) == 0 {
		return n.Value
	}
	vals := n.Value.AsValueMap()
	read := scope.Captured[n.Addr()]
	sensitive := false
	if s, ok := cfg.Values["sensitive"]; ok && s.Type() == cty.Bool && s.True() {
		sensitive = true
	}
	for _, f := range n.Res.Type.Computed {
		v, ok := read[f.Name]
		if !ok {
			v = cty.UnknownVal(f.Type).Mark(AfterApply{Host: hostName(scope)})
		}
		if sensitive {
			v = v.Mark(Sensitive)
		}
		vals[f.Name] = v
	}
	return cty.ObjectVal(vals)
}

// deferredExtra is the Extra of a diagnostic saying that a resource waits
// for values another host's apply decides.
type deferredExtra struct{ hosts []string }

// afterApply explains a field that is not known because of values read
// after apply: on another host, the resource is deferred (a diagnostic the
// engine turns into a "known after apply" host); on its own host, an
// error: a host is probed once, before its captures are read.
func afterApply(r *config.Resource, field string, marks []cty.PathValueMarks, self string) *hcl.Diagnostic {
	var hosts []string
	for _, pm := range marks {
		for m := range pm.Marks {
			if a, ok := m.(AfterApply); ok && !slices.Contains(hosts, a.Host) {
				hosts = append(hosts, a.Host)
			}
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	sort.Strings(hosts)
	if slices.Contains(hosts, self) {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Value read from the same host",
			Detail:   fmt.Sprintf("%s of %s uses a value this host reads while it is probed (a capture's attribute), which is not known when its own resources are planned. A capture's value is for other hosts: offer it in a role's output and read it there through outputs.ROLE, or compute it where it is needed.", field, r.Addr()),
			Subject:  attrRange(r, field).Ptr(),
		}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Known after apply",
		Detail:   fmt.Sprintf("%s of %s is known only after %s is applied", field, r.Addr(), strings.Join(hosts, ", ")),
		Subject:  attrRange(r, field).Ptr(),
		Extra:    deferredExtra{hosts},
	}
}

// Deferred reports whether every error of a host's evaluation is a value
// known only after other hosts are applied, and, if so, those hosts and
// the first resource field waiting for them: the host is planned then.
func Deferred(diags hcl.Diagnostics) (hosts []string, what string, ok bool) {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		x, isDeferred := d.Extra.(deferredExtra)
		if !isDeferred {
			return nil, "", false
		}
		for _, h := range x.hosts {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
		if what == "" {
			what = d.Detail
		}
	}
	sort.Strings(hosts)
	return hosts, what, len(hosts) > 0
}
