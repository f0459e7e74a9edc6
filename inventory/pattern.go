package inventory

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxExpansion caps how many names one pattern may expand to, so that a typo
// such as "node[1:9999999]" fails fast instead of exhausting memory.
const MaxExpansion = 16384

// ErrPattern is wrapped by every error ExpandPattern returns.
var ErrPattern = errors.New("invalid host range")

// ExpandPattern expands host range patterns:
//
//	sopine[01:07]   sopine01 … sopine07 (zero padding kept: the start has a leading zero)
//	node[1:12]      node1 … node12
//	rock[a:c]       rocka rockb rockc
//	n[1:10:2]       n1 n3 n5 n7 n9 (optional step)
//	r[1:2]-[a:b]    r1-a r1-b r2-a r2-b (several ranges expand as a product)
//
// A pattern without brackets expands to itself. Bounds are either both
// decimal numbers or both single letters of the same case; the start must not
// be greater than the end; a zero-padded start needs an end of the same width.
// Names are produced in order, the first range varying slowest.
func ExpandPattern(p string) ([]string, error) {
	return expand(p, false)
}

// expand expands the ranges of p. With globClasses, a bracket holding no ':'
// is a glob character class (as in "h[12]") and is copied as is; otherwise
// every bracket must hold a range.
func expand(p string, globClasses bool) ([]string, error) {
	if p == "" {
		return nil, fmt.Errorf("%w: empty pattern", ErrPattern)
	}
	// Split p into segments, each a list of alternatives: a literal has one.
	var segs [][]string
	total := 1
	rest := p
	for rest != "" {
		open := strings.IndexAny(rest, "[]")
		if open < 0 {
			segs = append(segs, []string{rest})
			break
		}
		if rest[open] == ']' {
			return nil, fmt.Errorf("%w %q: \"]\" without a matching \"[\"", ErrPattern, p)
		}
		end := strings.IndexAny(rest[open+1:], "[]")
		if end < 0 || rest[open+1+end] == '[' {
			return nil, fmt.Errorf("%w %q: \"[\" is not closed by \"]\"", ErrPattern, p)
		}
		end += open + 1
		body := rest[open+1 : end]
		if globClasses && !strings.Contains(body, ":") {
			segs = append(segs, []string{rest[:end+1]})
			rest = rest[end+1:]
			continue
		}
		seq, err := rangeSeq(body)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %s", ErrPattern, p, err)
		}
		if total *= len(seq); total > MaxExpansion {
			return nil, fmt.Errorf("%w %q: expands to more than %d names", ErrPattern, p, MaxExpansion)
		}
		segs = append(segs, []string{rest[:open]}, seq)
		rest = rest[end+1:]
	}
	// The product, the first segment varying slowest.
	out := make([]string, 0, total)
	idx := make([]int, len(segs))
	var b strings.Builder
	for {
		b.Reset()
		for i, seg := range segs {
			b.WriteString(seg[idx[i]])
		}
		out = append(out, b.String())
		i := len(segs) - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < len(segs[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return out, nil
		}
	}
}

// rangeSeq expands the inside of one bracket: start:end or start:end:step.
func rangeSeq(body string) ([]string, error) {
	parts := strings.Split(body, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, fmt.Errorf("[%s] must be [start:end] or [start:end:step]", body)
	}
	start, end := parts[0], parts[1]
	step := 1
	if len(parts) == 3 {
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 || !isDigits(parts[2]) {
			return nil, fmt.Errorf("step %q must be a whole number of at least 1", parts[2])
		}
		step = n
	}
	switch {
	case start == "" || end == "":
		return nil, fmt.Errorf("[%s] needs both a start and an end", body)
	case isDigits(start) && isDigits(end):
		return numberSeq(start, end, step)
	case isLetter(start) && isLetter(end):
		if isLower(start[0]) != isLower(end[0]) {
			return nil, fmt.Errorf("[%s] mixes lower and upper case letters; use one case", body)
		}
		if start > end {
			return nil, fmt.Errorf("start %q is after end %q", start, end)
		}
		var seq []string
		for c := int(start[0]); c <= int(end[0]); c += step {
			seq = append(seq, string(rune(c)))
		}
		return seq, nil
	case (isDigits(start) || isLetter(start)) && (isDigits(end) || isLetter(end)):
		return nil, fmt.Errorf("[%s] mixes a number and a letter; both bounds must be numbers or both single letters", body)
	default:
		return nil, fmt.Errorf("[%s]: bounds must be decimal numbers (01, 12) or single letters (a, z)", body)
	}
}

func numberSeq(start, end string, step int) ([]string, error) {
	if len(start) > 9 || len(end) > 9 {
		return nil, fmt.Errorf("bounds %q:%q are too large", start, end)
	}
	s, _ := strconv.Atoi(start)
	e, _ := strconv.Atoi(end)
	if s > e {
		return nil, fmt.Errorf("start %s is greater than end %s; write the smaller bound first", start, end)
	}
	width := 0
	if len(start) > 1 && start[0] == '0' {
		width = len(start)
		if len(end) != width {
			return nil, fmt.Errorf("zero-padded start %q needs an end of the same width (%d digits)", start, width)
		}
	}
	if n := (e-s)/step + 1; n > MaxExpansion {
		return nil, fmt.Errorf("expands to more than %d names", MaxExpansion)
	}
	var seq []string
	for i := s; i <= e; i += step {
		seq = append(seq, fmt.Sprintf("%0*d", width, i))
	}
	return seq, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLetter(s string) bool {
	return len(s) == 1 && (isLower(s[0]) || ('A' <= s[0] && s[0] <= 'Z'))
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

// hasRange reports whether p holds a bracket with a ':' inside, the mark of a
// range in a selector term.
func hasRange(p string) bool {
	for {
		i := strings.IndexByte(p, '[')
		if i < 0 {
			return false
		}
		p = p[i+1:]
		j := strings.IndexAny(p, "[]")
		if j < 0 {
			return strings.Contains(p, ":")
		}
		if strings.Contains(p[:j], ":") {
			return true
		}
	}
}
