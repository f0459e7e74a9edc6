package inventory

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// ErrNoMatch is matched (errors.Is) by the error Select returns when a term,
// or the whole selector, selects no host.
var ErrNoMatch = errors.New("no host matched")

// NoMatchError names a selector term that matched no host.
type NoMatchError struct {
	Term   string // the term as written, with its ! or & prefix
	Reason string
}

func (e *NoMatchError) Error() string {
	return fmt.Sprintf("limit %q matches no host: %s", e.Term, e.Reason)
}

// Is makes errors.Is(err, ErrNoMatch) true.
func (e *NoMatchError) Is(target error) bool { return target == ErrNoMatch }

// Select returns the hosts a limit selector picks, in inventory order.
//
// A selector is a list of terms separated by ',' or ':' (a ':' inside
// brackets belongs to a range). A term is
//
//	all or *        every host
//	name            a group (its hosts, children included) or a host
//	sopine[01:03]   a range: a bracket holding ':' expands like ExpandPattern,
//	                each name then being a group, a host or a glob
//	sopine0*, h[12] a glob over host names (*, ?, [class]); a bracket without ':'
//	                is a glob character class
//	~regex          host names matching an RE2 regular expression, anchored at
//	                the start only (like Ansible); add $ to anchor the end
//
// prefixed by nothing (union), '&' (intersection) or '!' (exclusion). The
// union of plain terms is taken first (every host if there is none), then
// each intersection, then each exclusion. An empty selector selects every
// host. A term that matches no host is an error naming it (except an
// exclusion of an existing, empty group), and so is a selector whose result
// is empty.
func (inv *Inventory) Select(selector string) ([]*Host, error) {
	terms := splitSelector(selector)
	if len(terms) == 0 {
		return append([]*Host(nil), inv.Hosts...), nil
	}
	var union, excl []string
	var inter [][]string
	var errs []error
	for _, t := range terms {
		op, body := byte(0), t
		if t[0] == '!' || t[0] == '&' {
			op, body = t[0], strings.TrimSpace(t[1:])
		}
		names, err := inv.match(t, body)
		if g, ok := inv.Groups[body]; ok && op == '!' {
			names, err = g.Hosts, nil // excluding an empty group is harmless
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch op {
		case '!':
			excl = append(excl, names...)
		case '&':
			inter = append(inter, names)
		default:
			union = append(union, names...)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	picked := map[string]bool{}
	if len(union) == 0 {
		for _, h := range inv.Hosts {
			picked[h.Name] = true
		}
	}
	for _, n := range union {
		picked[n] = true
	}
	for _, set := range inter {
		in := map[string]bool{}
		for _, n := range set {
			in[n] = true
		}
		for n := range picked {
			if !in[n] {
				delete(picked, n)
			}
		}
	}
	for _, n := range excl {
		delete(picked, n)
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if picked[h.Name] {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, &NoMatchError{Term: selector, Reason: "no host is left after its intersections (&) and exclusions (!)"}
	}
	return out, nil
}

// splitSelector splits at ',' and ':' outside brackets, trimming spaces and
// dropping empty terms.
func splitSelector(s string) []string {
	var terms []string
	depth, start := 0, 0
	add := func(t string) {
		if t = strings.TrimSpace(t); t != "" {
			terms = append(terms, t)
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case ',', ':':
			if depth == 0 {
				add(s[start:i])
				start = i + 1
			}
		}
	}
	add(s[start:])
	return terms
}

// match returns the host names one term body matches; term is the term as
// written, for errors.
func (inv *Inventory) match(term, body string) ([]string, error) {
	noMatch := func(reason string) error { return &NoMatchError{Term: term, Reason: reason} }
	switch {
	case body == "":
		return nil, noMatch("the term is empty")
	case strings.HasPrefix(body, "~"):
		if _, err := regexp.Compile(body[1:]); err != nil {
			return nil, fmt.Errorf("limit %q: invalid regular expression: %w", term, err)
		}
		re := regexp.MustCompile("^(?:" + body[1:] + ")")
		var names []string
		for _, h := range inv.Hosts {
			if re.MatchString(h.Name) {
				names = append(names, h.Name)
			}
		}
		if len(names) == 0 {
			return nil, noMatch("no host name matches the regular expression")
		}
		return names, nil
	case hasRange(body):
		expanded, err := expand(body, true)
		if err != nil {
			return nil, fmt.Errorf("limit %q: %w", term, err)
		}
		var names []string
		for _, n := range expanded {
			m, err := inv.matchName(term, n)
			var nm *NoMatchError
			if err != nil && !errors.As(err, &nm) {
				return nil, err
			}
			names = append(names, m...)
		}
		if len(names) == 0 {
			return nil, noMatch(fmt.Sprintf("none of the %d names it expands to is a host or group", len(expanded)))
		}
		return names, nil
	}
	return inv.matchName(term, body)
}

// matchName resolves all, *, a group, a host or a glob.
func (inv *Inventory) matchName(term, name string) ([]string, error) {
	noMatch := func(format string, args ...any) error {
		return &NoMatchError{Term: term, Reason: fmt.Sprintf(format, args...)}
	}
	if name == AllGroup || name == "*" {
		names := make([]string, len(inv.Hosts))
		for i, h := range inv.Hosts {
			names[i] = h.Name
		}
		return names, nil
	}
	if g, ok := inv.Groups[name]; ok {
		if len(g.Hosts) == 0 {
			return nil, noMatch("group %q has no hosts", name)
		}
		return g.Hosts, nil
	}
	if _, ok := inv.Host(name); ok {
		return []string{name}, nil
	}
	if strings.ContainsAny(name, "*?[") {
		if _, err := path.Match(name, ""); err != nil {
			return nil, fmt.Errorf("limit %q: invalid glob pattern %q", term, name)
		}
		var names []string
		for _, h := range inv.Hosts {
			if ok, _ := path.Match(name, h.Name); ok {
				names = append(names, h.Name)
			}
		}
		if len(names) == 0 {
			return nil, noMatch("no host name matches the glob %q", name)
		}
		return names, nil
	}
	known := make([]string, 0, len(inv.Hosts)+len(inv.Groups))
	for _, h := range inv.Hosts {
		known = append(known, h.Name)
	}
	for g := range inv.Groups {
		known = append(known, g)
	}
	sort.Strings(known)
	return nil, noMatch("no host or group is named %q%s", name, suggest(name, known))
}
