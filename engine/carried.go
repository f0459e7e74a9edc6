package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/inventory"
)

// Carried outputs. In pull mode a board applies only itself: it has
// neither the other hosts in its inventory nor their facts, so it cannot
// evaluate the role outputs it reads (`outputs.ROLE`), and reading them
// there would quietly give an empty object (a proxy with no upstreams).
// `pinery bundle` evaluates them on the controller instead (OutputsOf),
// the bundle carries them (MarshalOutputs) and the board's run uses them
// (Options.Outputs), like Salt's mine answered by the master.

// OutputsOf is the `outputs` object host h reads, evaluated without
// contacting any host: every host it reads from is evaluated from the site
// and the facts cached on this machine (a value known only after apply is
// an error there). cty.NilVal when the site reads no outputs. Load the Run
// with no hosts selected, so that every producer counts as outside the run.
func (r *Run) OutputsOf(h *inventory.Host) (cty.Value, error) {
	return r.outputsFor(&hostRun{inv: h})
}

// carriedValue is one host's `outputs` object in JSON: its type, its value
// and where it is sensitive (cty's JSON keeps no marks).
type carriedValue struct {
	Type      json.RawMessage `json:"type"`
	Value     json.RawMessage `json:"value"`
	Sensitive [][]pathStep    `json:"sensitive,omitempty"`
}

// pathStep is one step of a cty.Path: an attribute, a map key or a list
// index.
type pathStep struct {
	Attr  *string `json:"attr,omitempty"`
	Key   *string `json:"key,omitempty"`
	Index *int64  `json:"index,omitempty"`
}

// MarshalOutputs encodes the `outputs` objects of hosts (by host name) for
// a bundle, and says whether any part of them is sensitive (the bundle
// then encrypts them).
func MarshalOutputs(byHost map[string]cty.Value) (data []byte, sensitive bool, err error) {
	out := map[string]carriedValue{}
	for name, v := range byHost {
		plain, marks := v.UnmarkDeepWithPaths()
		var c carriedValue
		if c.Type, err = ctyjson.MarshalType(plain.Type()); err != nil {
			return nil, false, fmt.Errorf("outputs of %s: %w", name, err)
		}
		if c.Value, err = ctyjson.Marshal(plain, plain.Type()); err != nil {
			return nil, false, fmt.Errorf("outputs of %s: %w", name, err)
		}
		for _, pm := range marks {
			if _, ok := pm.Marks[eval.Sensitive]; !ok {
				continue
			}
			steps, err := encodePath(pm.Path)
			if err != nil {
				return nil, false, fmt.Errorf("outputs of %s: %w", name, err)
			}
			c.Sensitive = append(c.Sensitive, steps)
		}
		sensitive = sensitive || len(c.Sensitive) > 0
		out[name] = c
	}
	data, err = json.MarshalIndent(out, "", "  ")
	return data, sensitive, err
}

// UnmarshalOutputs decodes what MarshalOutputs encoded, sensitive parts
// marked again.
func UnmarshalOutputs(data []byte) (map[string]cty.Value, error) {
	var in map[string]carriedValue
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("the carried outputs: %w", err)
	}
	out := map[string]cty.Value{}
	for name, c := range in {
		ty, err := ctyjson.UnmarshalType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("the carried outputs of %s: %w", name, err)
		}
		v, err := ctyjson.Unmarshal(c.Value, ty)
		if err != nil {
			return nil, fmt.Errorf("the carried outputs of %s: %w", name, err)
		}
		var marks []cty.PathValueMarks
		for _, steps := range c.Sensitive {
			p, err := decodePath(steps)
			if err != nil {
				return nil, fmt.Errorf("the carried outputs of %s: %w", name, err)
			}
			marks = append(marks, cty.PathValueMarks{Path: p, Marks: cty.NewValueMarks(eval.Sensitive)})
		}
		out[name] = v.MarkWithPaths(marks)
	}
	return out, nil
}

func encodePath(p cty.Path) ([]pathStep, error) {
	steps := make([]pathStep, 0, len(p))
	for _, s := range p {
		switch s := s.(type) {
		case cty.GetAttrStep:
			steps = append(steps, pathStep{Attr: &s.Name})
		case cty.IndexStep:
			switch {
			case s.Key.Type() == cty.String:
				k := s.Key.AsString()
				steps = append(steps, pathStep{Key: &k})
			case s.Key.Type() == cty.Number:
				i, acc := s.Key.AsBigFloat().Int64()
				if acc != big.Exact {
					return nil, fmt.Errorf("index %s is not a whole number", s.Key.AsBigFloat())
				}
				steps = append(steps, pathStep{Index: &i})
			default:
				return nil, fmt.Errorf("an index of type %s", s.Key.Type().FriendlyName())
			}
		default:
			return nil, fmt.Errorf("a path step %T", s)
		}
	}
	return steps, nil
}

func decodePath(steps []pathStep) (cty.Path, error) {
	var p cty.Path
	for _, s := range steps {
		switch {
		case s.Attr != nil:
			p = p.GetAttr(*s.Attr)
		case s.Key != nil:
			p = p.Index(cty.StringVal(*s.Key))
		case s.Index != nil:
			p = p.Index(cty.NumberIntVal(*s.Index))
		default:
			return nil, errors.New("an empty path step")
		}
	}
	return p, nil
}
