package pythonvenv

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pinery/pinery/engine/resource"
)

// kept are never removed by exact: the venv's own tools.
var kept = map[string]bool{"pip": true, "setuptools": true, "wheel": true}

// Private is what Apply needs from the plan.
type Private struct {
	Create  bool `json:"create,omitempty"`  // no venv yet
	Replace bool `json:"replace,omitempty"` // an empty directory is in the way
	Rebuild bool `json:"rebuild,omitempty"` // a venv is there, made by another python
	Delete  bool `json:"delete,omitempty"`
	// SystemSite is "true" or "false" to rewrite pyvenv.cfg, "" to leave it.
	SystemSite string   `json:"system_site,omitempty"`
	Install    []string `json:"install,omitempty"` // requirement lines for pip
	Remove     []string `json:"remove,omitempty"`  // names to uninstall
	Chown      bool     `json:"chown,omitempty"`
}

// Plan compares the venv with the desired one.
func (v *Venv) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("python_venv %q: %w", v.path, err)
	}
	if v.absent {
		switch p.typ {
		case "venv":
			return &resource.Diff{Action: resource.Delete, Private: &Private{Delete: true},
				Changes: []resource.Change{{Field: "venv", Old: v.path, New: "absent"}}}, nil
		case "other":
			return nil, fmt.Errorf("%q is not a virtualenv (no pyvenv.cfg); it is left alone: remove it with a directory resource", v.path)
		}
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	if p.python != "" && minor(p.python) == "" {
		return nil, fmt.Errorf("%s --version printed %q, not a Python 3 version", v.python, p.python)
	}
	want := p.python
	if want == "" {
		want = v.python + " (not installed yet: checked at apply)"
	}
	switch p.typ {
	case "other":
		return nil, fmt.Errorf("%q exists and is not a virtualenv (no pyvenv.cfg) nor an empty directory; remove it or choose another path", v.path)
	case "none", "empty":
		d := &resource.Diff{Action: resource.Create, Changes: []resource.Change{{Field: "python", New: want}}}
		d.Private = v.fresh(d, p, p.typ == "empty", false)
		return d, nil
	}
	if why := v.rebuildReason(p); why != "" {
		d := &resource.Diff{Action: resource.Update, Changes: []resource.Change{
			{Field: "python", Old: p.cfgVersion(), New: want},
			{Field: "venv", New: fmt.Sprintf("rebuilt (%s), its %d packages installed afresh", why, len(v.reqs))},
		}}
		d.Private = v.fresh(d, p, false, true)
		return d, nil
	}

	d := &resource.Diff{Action: resource.Update}
	priv := &Private{}
	if cur := strings.EqualFold(p.cfg["include-system-site-packages"], "true"); cur != v.systemSite {
		priv.SystemSite = strconv.FormatBool(v.systemSite)
		d.Changes = append(d.Changes, resource.Change{Field: "system_site_packages", Old: strconv.FormatBool(cur), New: priv.SystemSite})
	}
	installed := p.dists
	if !v.systemSite {
		installed = venvOnly(p)
	}
	for _, r := range v.reqs {
		if ch, ok := change(r, installed); ok {
			d.Changes = append(d.Changes, ch)
			priv.Install = append(priv.Install, r.line())
		}
	}
	if v.exact {
		wanted := map[string]bool{}
		for _, r := range v.reqs {
			wanted[r.key] = true
		}
		for _, k := range p.order {
			if dd := p.dists[k]; !dd.sys && !wanted[k] && !kept[k] {
				d.Changes = append(d.Changes, resource.Change{Field: "package " + dd.name, Old: dd.version, New: "(removed)"})
				priv.Remove = append(priv.Remove, dd.name)
			}
		}
	}
	if chs := v.ownerChanges(p); len(chs) > 0 {
		d.Changes = append(d.Changes, chs...)
		priv.Chown = true
	}
	if len(d.Changes) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	d.Private = priv
	return d, nil
}

// fresh plans a new venv (at path, or to replace the one there): every
// requirement is installed.
func (v *Venv) fresh(d *resource.Diff, p *probe, replace, rebuild bool) *Private {
	priv := &Private{Create: !rebuild, Replace: replace, Rebuild: rebuild, Chown: v.owner != "" || v.group != ""}
	installed, cur := map[string]dist{}, false
	if rebuild {
		installed, cur = venvOnly(p), strings.EqualFold(p.cfg["include-system-site-packages"], "true")
	}
	if cur != v.systemSite {
		ch := resource.Change{Field: "system_site_packages", New: strconv.FormatBool(v.systemSite)}
		if rebuild {
			ch.Old = strconv.FormatBool(cur)
		}
		d.Changes = append(d.Changes, ch)
	}
	for _, r := range v.reqs {
		// A rebuild reinstalls everything; the plan shows what differs.
		if ch, differs := change(r, installed); differs {
			d.Changes = append(d.Changes, ch)
		}
		priv.Install = append(priv.Install, r.line())
	}
	if v.owner != "" {
		d.Changes = append(d.Changes, resource.Change{Field: "owner", New: v.owner})
	}
	if v.group != "" {
		d.Changes = append(d.Changes, resource.Change{Field: "group", New: v.group})
	}
	return priv
}

// rebuildReason says why the venv cannot be kept, or "".
func (v *Venv) rebuildReason(p *probe) string {
	have := minor(p.cfgVersion())
	switch {
	case !p.exe:
		return "its bin/python is missing or broken"
	case have == "":
		return "its pyvenv.cfg has no Python version"
	case p.python == "":
		return v.python + " is not installed yet"
	case have != minor(p.python):
		return fmt.Sprintf("made by Python %s, %s is %s", have, v.python, minor(p.python))
	}
	return ""
}

// change is what installing r changes, or false when r is satisfied.
func change(r requirement, installed map[string]dist) (resource.Change, bool) {
	ch := resource.Change{Field: "package " + r.name, New: r.version, Sensitive: r.sensitive}
	if r.sensitive {
		ch.Field = "package"
	}
	if ch.New == "" {
		ch.New = "(any)"
	}
	have, ok := installed[r.key]
	if ok {
		ch.Old = have.version
		if r.version == "" || r.pin.matches(have.version) {
			ch.New = have.version
			return ch, false
		}
	}
	return ch, true
}

// venvOnly is what the venv itself holds, without the system's packages.
func venvOnly(p *probe) map[string]dist {
	m := map[string]dist{}
	for k, d := range p.dists {
		if !d.sys {
			m[k] = d
		}
	}
	return m
}

// ownerChanges compares the venv directory's owner and group, by name or
// by number.
func (v *Venv) ownerChanges(p *probe) []resource.Change {
	if p.owner == nil {
		return nil
	}
	var chs []resource.Change
	if v.owner != "" && v.owner != p.owner[0] && v.owner != p.owner[2] {
		chs = append(chs, resource.Change{Field: "owner", Old: p.owner[2], New: v.owner})
	}
	if v.group != "" && v.group != p.owner[1] && v.group != p.owner[3] {
		chs = append(chs, resource.Change{Field: "group", Old: p.owner[3], New: v.group})
	}
	return chs
}
