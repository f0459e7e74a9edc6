package postgresdatabase

import (
	"fmt"

	"github.com/pinery/pinery/engine/resource"
)

// Operations of a plan.
const (
	opCreate  = "create"
	opOwner   = "owner" // ALTER DATABASE ... OWNER TO
	opDrop    = "drop"
	opUnknown = "unknown" // PostgreSQL was not running: read again at apply
)

// What a plan says when it could not read the database.
const (
	notRunningYet = "not running yet: known after apply"
	notRunning    = "not running: known after apply"
)

// Private is what Apply needs from the plan.
type Private struct {
	Op string `json:"op"`
}

// Plan compares the probe's output with the desired database.
func (d *Database) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	ob, err := parseProbe(out)
	if err != nil {
		return nil, err
	}
	switch {
	case ob.missing && d.absent:
		return &resource.Diff{}, nil
	case ob.down && d.absent:
		return &resource.Diff{Action: resource.Delete,
			Changes: []resource.Change{{Field: "postgresql", New: notRunning}},
			Private: &Private{Op: opUnknown}}, nil
	case ob.down:
		diff := d.planCreate()
		diff.Changes = append([]resource.Change{{Field: "postgresql", New: notRunningYet}}, diff.Changes...)
		diff.Private = &Private{Op: opUnknown}
		return diff, nil
	case d.absent && !ob.present:
		return &resource.Diff{}, nil
	case d.absent && !d.forceDrop:
		return nil, fmt.Errorf("the database exists and state = \"absent\" would drop it with all its data; set force_drop = true to allow that")
	case d.absent:
		return &resource.Diff{Action: resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: "present", New: "absent (all its data is deleted)"}},
			Private: &Private{Op: opDrop}}, nil
	case !ob.present:
		return d.planCreate(), nil
	}
	if err := d.checkFixed(ob); err != nil {
		return nil, err
	}
	if d.owner == "" || d.owner == ob.owner {
		return &resource.Diff{}, nil
	}
	return &resource.Diff{Action: resource.Update,
		Changes: []resource.Change{d.change("owner", ob.owner, d.owner)},
		Private: &Private{Op: opOwner}}, nil
}

func (d *Database) change(field, old, new string) resource.Change {
	return resource.Change{Field: field, Old: old, New: new, Sensitive: d.sensitive[field]}
}

func (d *Database) planCreate() *resource.Diff {
	ch := []resource.Change{d.change("name", "", d.name)}
	if d.owner != "" {
		ch = append(ch, d.change("owner", "", d.owner))
	}
	ch = append(ch, d.change("encoding", "", d.encoding))
	if d.collate != "" {
		ch = append(ch, d.change("lc_collate", "", d.collate))
	}
	if d.ctype != "" {
		ch = append(ch, d.change("lc_ctype", "", d.ctype))
	}
	ch = append(ch, d.change("template", "", d.template))
	return &resource.Diff{Action: resource.Create, Changes: ch, Private: &Private{Op: opCreate}}
}

// checkFixed compares what PostgreSQL cannot change in place.
func (d *Database) checkFixed(ob *observed) error {
	for _, f := range []struct{ field, want, have string }{
		{"encoding", d.encoding, ob.encoding},
		{"lc_collate", d.collate, ob.collate},
		{"lc_ctype", d.ctype, ob.ctype},
	} {
		if f.want == "" || f.want == f.have {
			continue
		}
		if d.sensitive[f.field] {
			return fmt.Errorf("the database has another %s than the one given; PostgreSQL cannot change it in place", f.field)
		}
		return fmt.Errorf("the database has %s %q, not %q, and PostgreSQL cannot change a database's encoding or collation in place: "+
			"dump its data, drop it (state = \"absent\", force_drop = true) and create it again, or set %s = %q", f.field, f.have, f.want, f.field, f.have)
	}
	return nil
}
