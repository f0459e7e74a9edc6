package line

import (
	"regexp"
	"strings"
)

// editor is a line edit, pure: from a file's content to the new content.
// Lines are matched and compared without their terminator ("\n" or
// "\r\n"); the terminators of lines kept or replaced are kept as they were.
type editor struct {
	line    string
	hasLine bool // state = "absent" may go without a line
	match   *regexp.Regexp
	after   *regexp.Regexp
	absent  bool
}

// outcome is what an edit did.
type outcome struct {
	content  string
	changed  bool
	replaced string // the line that was replaced, when one was
	inserted bool
	removed  int
}

// apply edits content:
//
//   - present: the last line matching match is replaced by line; if none
//     matches and no line equals line, line is inserted after the last
//     line matching insert_after, or appended.
//   - absent: every line matching match, or equal to line, is removed.
func (e *editor) apply(content string) outcome {
	lines := splitLines(content)
	if e.absent {
		kept := lines[:0:0]
		n := 0
		for _, l := range lines {
			b := body(l)
			if (e.match != nil && e.match.MatchString(b)) || (e.hasLine && b == e.line) {
				n++
				continue
			}
			kept = append(kept, l)
		}
		if n == 0 {
			return outcome{content: content}
		}
		return outcome{content: strings.Join(kept, ""), changed: true, removed: n}
	}

	last, exact := -1, false
	for i, l := range lines {
		b := body(l)
		if e.match != nil && e.match.MatchString(b) {
			last = i
		}
		exact = exact || b == e.line
	}
	switch {
	case last >= 0:
		old := body(lines[last])
		if old == e.line {
			return outcome{content: content}
		}
		lines[last] = e.line + lines[last][len(old):]
		return outcome{content: strings.Join(lines, ""), changed: true, replaced: old}
	case exact:
		return outcome{content: content}
	}
	pos := len(lines)
	if e.after != nil {
		for i, l := range lines {
			if e.after.MatchString(body(l)) {
				pos = i + 1
			}
		}
	}
	eol := newline(lines)
	if pos > 0 && !strings.HasSuffix(lines[pos-1], "\n") {
		// The last line had no newline: it gets one, before the new line.
		lines[pos-1] += eol
	}
	lines = append(lines[:pos], append([]string{e.line + eol}, lines[pos:]...)...)
	return outcome{content: strings.Join(lines, ""), changed: true, inserted: true}
}

// splitLines cuts content after each "\n"; the last line may lack one.
func splitLines(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// body is a line without its terminator.
func body(l string) string {
	if strings.HasSuffix(l, "\r\n") {
		return l[:len(l)-2]
	}
	return strings.TrimSuffix(l, "\n")
}

// newline is the file's line terminator, as its first line has it: a file
// written on Windows keeps its CRLF.
func newline(lines []string) string {
	if len(lines) > 0 && strings.HasSuffix(lines[0], "\r\n") {
		return "\r\n"
	}
	return "\n"
}
