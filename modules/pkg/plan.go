package pkg

import (
	"fmt"
	"slices"

	"github.com/pinery/pinery/engine/resource"
)

// planned is the Diff's private part: what the apt transaction does with
// this package.
type planned struct {
	Op   string // "install", "remove" or "purge"
	Spec string // the apt argument: "name" or "name=version"
	// Stale: the version asked for is not in the host's apt lists, so
	// they are refreshed before installing however fresh they look (a
	// repository published a new version since the last update).
	Stale bool
}

const knownAfterApply = "(known after apply)"

// Plan compares dpkg's view of the package with the desired state.
func (p *Package) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	o, err := parseProbe(out.Stdout)
	if err != nil {
		return nil, fmt.Errorf("package %s: unreadable probe output: %w", p.name, err)
	}
	switch o.dpkgRC {
	case 0, 1:
	case 127:
		return nil, fmt.Errorf("package %s: dpkg-query not found: the package resource needs a Debian host", p.name)
	default:
		return nil, fmt.Errorf("package %s: dpkg-query failed with exit status %d (is the dpkg database readable?)", p.name, o.dpkgRC)
	}
	if o.policy != nil && o.policy.rc == 127 {
		return nil, fmt.Errorf("package %s: apt-cache not found: the package resource needs apt", p.name)
	}
	cur := o.current()
	switch p.state {
	case "absent":
		if !cur.present() {
			return &resource.Diff{Action: resource.NoOp}, nil
		}
		return p.removal(cur, "remove"), nil
	case "purged":
		if cur.status == 0 {
			return &resource.Diff{Action: resource.NoOp}, nil
		}
		return p.removal(cur, "purge"), nil
	case "latest":
		return p.planLatest(o, cur)
	}
	// present, maybe pinned.
	switch {
	case cur.installed() && (p.version == "" || cur.version == p.version):
		return &resource.Diff{Action: resource.NoOp}, nil
	case cur.installed():
		return &resource.Diff{
			Action:  resource.Update,
			Changes: []resource.Change{{Field: "version", Old: cur.version, New: p.version + p.unavailable(o, p.version)}},
			Private: planned{Op: "install", Spec: p.spec(), Stale: p.unavailable(o, p.version) != ""},
		}, nil
	case cur.broken():
		return &resource.Diff{
			Action:  resource.Update,
			Changes: []resource.Change{{Field: "state", Old: cur.describe(), New: "present"}},
			Private: planned{Op: "install", Spec: p.spec()},
		}, nil
	}
	v, stale := p.version, false
	if v != "" {
		v += p.unavailable(o, v)
		stale = p.unavailable(o, p.version) != ""
	} else {
		v = p.candidate(o)
	}
	return &resource.Diff{
		Action: resource.Create,
		Changes: []resource.Change{
			{Field: "state", Old: cur.describe(), New: "present"},
			{Field: "version", New: v},
		},
		Private: planned{Op: "install", Spec: p.spec(), Stale: stale},
	}, nil
}

func (p *Package) planLatest(o *observed, cur current) (*resource.Diff, error) {
	if o.policy == nil {
		return nil, fmt.Errorf("package %s: unreadable probe output: no apt-cache policy section", p.name)
	}
	stale := p.updateCache && (p.cacheValid == 0 || o.lists.stale())
	if !cur.present() {
		return &resource.Diff{
			Action: resource.Create,
			Changes: []resource.Change{
				{Field: "state", Old: cur.describe(), New: "latest"},
				{Field: "version", New: p.candidate(o)},
			},
			Private: planned{Op: "install", Spec: p.name},
		}, nil
	}
	if cur.broken() {
		return &resource.Diff{
			Action:  resource.Update,
			Changes: []resource.Change{{Field: "state", Old: cur.describe(), New: "latest"}},
			Private: planned{Op: "install", Spec: p.name},
		}, nil
	}
	cand := o.policy.candidate
	switch {
	case cand != "" && cand != cur.version:
		return &resource.Diff{
			Action:  resource.Update,
			Changes: []resource.Change{{Field: "version", Old: cur.version, New: cand}},
			Private: planned{Op: "install", Spec: p.name},
		}, nil
	case stale:
		// The lists may not know the newest version yet: say so rather
		// than promise that nothing changes.
		return &resource.Diff{
			Action:  resource.Update,
			Changes: []resource.Change{{Field: "version", Old: cur.version, New: "newest after apt-get update " + knownAfterApply}},
			Private: planned{Op: "install", Spec: p.name},
		}, nil
	}
	return &resource.Diff{Action: resource.NoOp}, nil
}

func (p *Package) removal(cur current, op string) *resource.Diff {
	ch := []resource.Change{{Field: "state", Old: cur.describe(), New: p.state}}
	if cur.version != "" && cur.status != 'c' {
		ch = append(ch, resource.Change{Field: "version", Old: cur.version})
	}
	return &resource.Diff{Action: resource.Delete, Changes: ch, Private: planned{Op: op, Spec: p.name}}
}

// spec is the apt-get argument that installs the desired version.
func (p *Package) spec() string {
	if p.version != "" {
		return p.name + "=" + p.version
	}
	return p.name
}

// candidate is the version an install would pick, as far as the current
// apt lists know.
func (p *Package) candidate(o *observed) string {
	switch {
	case o.policy == nil:
		return knownAfterApply
	case !o.policy.known:
		return knownAfterApply + ": not in the apt lists yet"
	case o.policy.candidate == "":
		return knownAfterApply + ": apt has no installation candidate yet"
	}
	return o.policy.candidate
}

// unavailable notes a pinned version the current lists do not offer.
func (p *Package) unavailable(o *observed, v string) string {
	if o.policy == nil || slices.Contains(o.policy.versions, v) {
		return ""
	}
	return " (not in the apt lists yet)"
}
