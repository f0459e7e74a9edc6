package postgresrole

import (
	"fmt"
	"strconv"

	"github.com/pinery/pinery/engine/resource"
)

// Operations of a plan.
const (
	opCreate  = "create"
	opAlter   = "alter"
	opDrop    = "drop"
	opUnknown = "unknown" // PostgreSQL was not running: read again at apply
)

// What a plan says when it could not read the role.
const (
	notRunningYet = "not running yet: known after apply"
	notRunning    = "not running: known after apply"
)

// Private is what Apply needs from the plan. It holds no secret: the
// password's verifier is computed at apply, from the resource.
type Private struct {
	Op       string   `json:"op"`
	Options  []string `json:"options,omitempty"` // role options: LOGIN, NOCREATEDB, CONNECTION LIMIT 5
	Password bool     `json:"password,omitempty"`
}

// Plan compares the probe's output with the desired role.
func (r *Role) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	ob, err := parseProbe(out)
	if err != nil {
		return nil, err
	}
	switch {
	case ob.missing && r.absent:
		return &resource.Diff{}, nil
	case ob.down && r.absent:
		return &resource.Diff{Action: resource.Delete,
			Changes: []resource.Change{{Field: "postgresql", New: notRunning}},
			Private: &Private{Op: opUnknown}}, nil
	case ob.down:
		d := r.planCreate()
		d.Changes = append([]resource.Change{{Field: "postgresql", New: notRunningYet}}, d.Changes...)
		d.Private = &Private{Op: opUnknown}
		return d, nil
	case r.absent && !ob.present:
		return &resource.Diff{}, nil
	case r.absent:
		return &resource.Diff{Action: resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: "present", New: "absent"}},
			Private: &Private{Op: opDrop}}, nil
	case !ob.present:
		return r.planCreate(), nil
	}
	return r.planAlter(ob)
}

func (r *Role) change(field, old, new string) resource.Change {
	return resource.Change{Field: field, Old: old, New: new, Sensitive: r.sensitive[field]}
}

// option is an attribute as CREATE/ALTER ROLE spells it.
type option struct {
	field     string
	want, was bool
	yes, no   string
}

func (r *Role) options(was attrs) []option {
	return []option{
		{"login", r.attrs.login, was.login, "LOGIN", "NOLOGIN"},
		{"superuser", r.attrs.superuser, was.superuser, "SUPERUSER", "NOSUPERUSER"},
		{"createdb", r.attrs.createdb, was.createdb, "CREATEDB", "NOCREATEDB"},
		{"createrole", r.attrs.createrole, was.createrole, "CREATEROLE", "NOCREATEROLE"},
	}
}

func (o option) keyword() string {
	if o.want {
		return o.yes
	}
	return o.no
}

func limitText(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

func (r *Role) planCreate() *resource.Diff {
	priv := &Private{Op: opCreate}
	ch := []resource.Change{r.change("name", "", r.name)}
	for _, o := range r.options(attrs{}) {
		ch = append(ch, r.change(o.field, "", strconv.FormatBool(o.want)))
		priv.Options = append(priv.Options, o.keyword())
	}
	ch = append(ch, r.change("connection_limit", "", limitText(r.attrs.connLimit)))
	priv.Options = append(priv.Options, fmt.Sprintf("CONNECTION LIMIT %d", r.attrs.connLimit))
	if r.password != "" {
		ch = append(ch, resource.Change{Field: "password", New: "(sensitive)", Sensitive: true})
		priv.Password = true
	}
	return &resource.Diff{Action: resource.Create, Changes: ch, Private: priv}
}

func (r *Role) planAlter(ob *observed) (*resource.Diff, error) {
	priv := &Private{Op: opAlter}
	var ch []resource.Change
	for _, o := range r.options(ob.attrs) {
		if o.want != o.was {
			ch = append(ch, r.change(o.field, strconv.FormatBool(o.was), strconv.FormatBool(o.want)))
			priv.Options = append(priv.Options, o.keyword())
		}
	}
	if r.attrs.connLimit != ob.attrs.connLimit {
		ch = append(ch, r.change("connection_limit", limitText(ob.attrs.connLimit), limitText(r.attrs.connLimit)))
		priv.Options = append(priv.Options, fmt.Sprintf("CONNECTION LIMIT %d", r.attrs.connLimit))
	}
	if r.password != "" {
		ok, err := ob.password.matches(r.password)
		if err != nil {
			return nil, err
		}
		if !ok {
			old := "(sensitive)"
			if ob.password.kind == "none" {
				old = ""
			}
			ch = append(ch, resource.Change{Field: "password", Old: old, New: "(sensitive)", Sensitive: true})
			priv.Password = true
		}
	}
	if len(ch) == 0 {
		return &resource.Diff{}, nil
	}
	return &resource.Diff{Action: resource.Update, Changes: ch, Private: priv}, nil
}
