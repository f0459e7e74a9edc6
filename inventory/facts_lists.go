package inventory

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// The structured facts travel as strings, like every fact (the cache and
// `pinery facts` keep Facts a map of strings), and become typed values in
// Value: entries joined by "; ", fields by one space, a blank, ';' or '\'
// inside a field octal-escaped as /proc/self/mountinfo does (\040, \073,
// \134).
var (
	mountType = cty.Object(map[string]cty.Type{"path": cty.String, "fs": cty.String, "source": cty.String})
	diskType  = cty.Object(map[string]cty.Type{"name": cty.String, "size_mb": cty.Number, "rotational": cty.Bool, "removable": cty.Bool})
)

// checkStructured reports a malformed root_network, mounts or disks fact.
func checkStructured(f Facts) error {
	switch f["root_network"] {
	case "", "true", "false":
	default:
		return fmt.Errorf("root_network=%q is not true or false", trunc(f["root_network"]))
	}
	if _, err := mounts(f["mounts"]); err != nil {
		return err
	}
	_, err := disks(f["disks"])
	return err
}

// entries splits a list fact into its entries' fields, n per entry.
func entries(v, fact string, n int) ([][]string, error) {
	if v == "" {
		return nil, nil
	}
	var out [][]string
	for _, e := range strings.Split(v, "; ") {
		fs := strings.Split(e, " ")
		if len(fs) != n || strings.Contains(e, "  ") || e == "" {
			return nil, fmt.Errorf("%s entry %q does not have %d fields", fact, trunc(e), n)
		}
		out = append(out, fs)
	}
	return out, nil
}

func mounts(v string) (cty.Value, error) {
	es, err := entries(v, "mounts", 3)
	if err != nil || len(es) == 0 {
		return cty.ListValEmpty(mountType), err
	}
	vals := make([]cty.Value, len(es))
	for i, e := range es {
		vals[i] = cty.ObjectVal(map[string]cty.Value{
			"path": cty.StringVal(unescape(e[0])), "fs": cty.StringVal(unescape(e[1])), "source": cty.StringVal(unescape(e[2]))})
	}
	return cty.ListVal(vals), nil
}

func disks(v string) (cty.Value, error) {
	es, err := entries(v, "disks", 4)
	if err != nil || len(es) == 0 {
		return cty.ListValEmpty(diskType), err
	}
	vals := make([]cty.Value, len(es))
	for i, e := range es {
		mb, err := strconv.ParseInt(e[1], 10, 64)
		if err != nil || mb < 0 || (e[2] != "0" && e[2] != "1") || (e[3] != "0" && e[3] != "1") {
			return cty.ListValEmpty(diskType), fmt.Errorf("disks entry %q is not NAME SIZE_MB ROTATIONAL REMOVABLE", trunc(strings.Join(e, " ")))
		}
		vals[i] = cty.ObjectVal(map[string]cty.Value{
			"name": cty.StringVal(e[0]), "size_mb": cty.NumberIntVal(mb),
			"rotational": cty.BoolVal(e[2] == "1"), "removable": cty.BoolVal(e[3] == "1")})
	}
	return cty.ListVal(vals), nil
}

// unescape undoes the kernel's octal escapes (\040 for a space); anything
// else is kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			n, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

func isOctal(s string) bool {
	if len(s) != 3 || s[0] > '3' {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// structuredValues sets the typed values of the structured facts.
func structuredValues(f Facts, attrs map[string]cty.Value) {
	switch f["root_network"] {
	case "true":
		attrs["root_network"] = cty.True
	case "false":
		attrs["root_network"] = cty.False
	default:
		attrs["root_network"] = cty.NullVal(cty.Bool)
	}
	attrs["mounts"], _ = mounts(f["mounts"])
	attrs["disks"], _ = disks(f["disks"])
}
