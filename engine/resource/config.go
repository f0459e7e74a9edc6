package resource

import (
	"fmt"
	"math/big"

	"github.com/zclconf/go-cty/cty"
)

// Config is a resource block's decoded values: defaults applied, marks
// removed, one entry per schema field (null when unset and without default).
type Config struct {
	Name    string // the block label: file "motd" → "motd"
	BaseDir string // directory of the declaring .hcl file, for relative paths
	Values  map[string]cty.Value
	// Sensitive lists fields whose value was marked sensitive, by the schema
	// or because it came from a sensitive variable.
	Sensitive map[string]bool
}

// IsSet reports whether a field has a non-null value.
func (c Config) IsSet(name string) bool {
	v, ok := c.Values[name]
	return ok && !v.IsNull()
}

// String returns a string field, "" when null.
func (c Config) String(name string) string {
	v := c.Values[name]
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
		return ""
	}
	return v.AsString()
}

// Bool returns a bool field, false when null.
func (c Config) Bool(name string) bool {
	v := c.Values[name]
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
		return false
	}
	return v.True()
}

// Int returns a number field as int64, 0 when null.
func (c Config) Int(name string) int64 {
	v := c.Values[name]
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
		return 0
	}
	i, _ := v.AsBigFloat().Int64()
	return i
}

// Strings returns a list or set of strings, nil when null.
func (c Config) Strings(name string) []string {
	v := c.Values[name]
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			continue
		}
		out = append(out, e.AsString())
	}
	return out
}

// IsSensitive reports whether a field must not be shown.
func (c Config) IsSensitive(name string) bool { return c.Sensitive[name] }

// Errorf reports a field error; the engine places it at the field's range.
func (c Config) Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// FieldError is an invalid field value found by a constructor.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Num is a helper for tests: a cty number from an int.
func Num(i int64) cty.Value { return cty.NumberVal(new(big.Float).SetInt64(i)) }
