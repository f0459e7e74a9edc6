package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Stage is a `stage "NAME"` block: one step of an ordered multi-host run
// (Salt's orchestrate runner). A site with stages applies them in the order
// they are declared; each applies its roles' resources on the hosts those
// roles target (narrowed by Hosts), with its own rollout settings, and a
// stage that fails stops the later ones.
type Stage struct {
	Name      string
	Roles     []*Role // the site's own roles
	Hosts     string  // an inventory selector narrowing the roles' targets; "" for none
	Rollout   StageRollout
	DeclRange hcl.Range
}

// StageRollout is a stage's `rollout` block, as written; the empty value
// applies the stage's hosts at once.
type StageRollout struct {
	Batch, MaxFailures string // a number of hosts or a percentage
	Pause              string // a duration: "30s"
	FailureDomain      string // an inventory host variable
	PowerCycles        int    // power-cycle a host that stopped answering, at most this many times
	Health             []StageHealth
	Drain              *StageDrain
}

// StageDrain is a stage rollout's `drain` block, as written.
type StageDrain struct {
	Via, Command, Undo string
	DeclRange          hcl.Range
}

// StageHealth is a `health` block of a stage's rollout, as written.
type StageHealth struct {
	HTTP, TCP, Command string
	Status             int
	Timeout, Interval  string
	DeclRange          hcl.Range
}

var stageSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "roles", Required: true}, {Name: "hosts"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "rollout"}},
}

var stageRolloutSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "batch"}, {Name: "max_failures"}, {Name: "pause"}, {Name: "failure_domain"}, {Name: "power_cycle"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "health"}, {Type: "drain"}},
}

var drainSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "via"}, {Name: "command", Required: true}, {Name: "undo", Required: true},
}}

var healthSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "http"}, {Name: "status"}, {Name: "tcp"}, {Name: "command"}, {Name: "timeout"}, {Name: "interval"},
}}

// decodeStage reads a stage block; its roles are resolved by resolveStages
// once every role is known.
func decodeStage(b *hcl.Block) (*Stage, []hcl.Traversal, hcl.Diagnostics) {
	st := &Stage{Name: b.Labels[0], DeclRange: b.DefRange}
	diags := checkName(st.Name, "stage", b.LabelRanges[0])
	content, d := b.Body.Content(stageSchema)
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, nil, diags
	}
	var refs []hcl.Traversal
	a := content.Attributes["roles"]
	exprs, d := hcl.ExprList(a.Expr)
	diags = append(diags, d...)
	for _, e := range exprs {
		t, d := hcl.AbsTraversalForExpr(e)
		if d.HasErrors() || len(t) != 2 || t.RootName() != "role" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid stage role",
				Detail:   "roles lists the site's roles this stage applies, as references: roles = [role.postgres, role.homeserver].",
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		refs = append(refs, t)
	}
	if len(exprs) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Stage without roles",
			Detail:   "A stage applies one or more of the site's roles: roles = [role.NAME].",
			Subject:  a.Range.Ptr(),
		})
	}
	if a, ok := content.Attributes["hosts"]; ok {
		diags = append(diags, decodeLiteral(a, cty.String, func(v cty.Value) { st.Hosts = v.AsString() })...)
	}
	for _, rb := range content.Blocks {
		c, d := rb.Body.Content(stageRolloutSchema)
		diags = append(diags, d...)
		str := func(name string, dst *string) {
			if a, ok := c.Attributes[name]; ok {
				diags = append(diags, decodeLiteral(a, cty.String, func(v cty.Value) { *dst = v.AsString() })...)
			}
		}
		str("batch", &st.Rollout.Batch)
		str("max_failures", &st.Rollout.MaxFailures)
		str("pause", &st.Rollout.Pause)
		str("failure_domain", &st.Rollout.FailureDomain)
		for _, hb := range c.Blocks {
			if hb.Type == "drain" {
				dc, d := hb.Body.Content(drainSchema)
				diags = append(diags, d...)
				dr := &StageDrain{DeclRange: hb.DefRange}
				for name, dst := range map[string]*string{"via": &dr.Via, "command": &dr.Command, "undo": &dr.Undo} {
					if a, ok := dc.Attributes[name]; ok {
						diags = append(diags, decodeLiteral(a, cty.String, func(v cty.Value) { *dst = v.AsString() })...)
					}
				}
				if st.Rollout.Drain != nil {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate drain block", Detail: "A stage's rollout takes one drain block.", Subject: hb.DefRange.Ptr()})
				}
				st.Rollout.Drain = dr
				continue
			}
			hc, d := hb.Body.Content(healthSchema)
			diags = append(diags, d...)
			h := StageHealth{DeclRange: hb.DefRange}
			for name, dst := range map[string]*string{"http": &h.HTTP, "tcp": &h.TCP, "command": &h.Command, "timeout": &h.Timeout, "interval": &h.Interval} {
				if a, ok := hc.Attributes[name]; ok {
					diags = append(diags, decodeLiteral(a, cty.String, func(v cty.Value) { *dst = v.AsString() })...)
				}
			}
			if a, ok := hc.Attributes["status"]; ok {
				diags = append(diags, decodeLiteral(a, cty.Number, func(v cty.Value) {
					n, _ := v.AsBigFloat().Int64()
					h.Status = int(n)
				})...)
			}
			st.Rollout.Health = append(st.Rollout.Health, h)
		}
		if a, ok := c.Attributes["power_cycle"]; ok {
			diags = append(diags, decodeLiteral(a, cty.Number, func(v cty.Value) {
				n, _ := v.AsBigFloat().Int64()
				st.Rollout.PowerCycles = int(n)
			})...)
		}
	}
	if len(content.Blocks) > 1 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate rollout block",
			Detail:   "A stage has at most one rollout block.",
			Subject:  content.Blocks[1].DefRange.Ptr(),
		})
	}
	return st, refs, diags
}

// resolveStages points each stage at the roles it names. A role may be in
// one stage only: a second would apply it twice.
func (s *Site) resolveStages(refs [][]hcl.Traversal) hcl.Diagnostics {
	var diags hcl.Diagnostics
	byName := map[string]*Role{}
	var names []string
	for _, r := range s.Roles {
		if r.Parent == nil {
			byName[r.Name] = r
			names = append(names, "role."+r.Name)
		}
	}
	inStage := map[string]string{}
	for i, st := range s.Stages {
		for _, t := range refs[i] {
			name := t[1].(hcl.TraverseAttr).Name
			role, ok := byName[name]
			if !ok {
				hint := "the site declares no role"
				if len(names) > 0 {
					hint = "the site's roles are " + strings.Join(names, ", ")
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared role",
					Detail:   fmt.Sprintf("Stage %s names role.%s, but %s.", st.Name, name, hint),
					Subject:  t.SourceRange().Ptr(),
				})
				continue
			}
			if prev, ok := inStage[name]; ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Role in two stages",
					Detail:   fmt.Sprintf("role.%s is already applied by stage %s; a role belongs to one stage.", name, prev),
					Subject:  t.SourceRange().Ptr(),
				})
				continue
			}
			inStage[name] = st.Name
			st.Roles = append(st.Roles, role)
		}
	}
	return diags
}
