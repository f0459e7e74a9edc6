package mount

import (
	"strconv"
	"strings"
)

// entry is one fstab line's six fields, unescaped.
type entry struct {
	source, path, fstype, options string
	dump, pass                    int
}

// line formats an entry as an fstab line (without the line break), its
// fields escaped as getmntent(3) reads them back.
func (e entry) line() string {
	return strings.Join([]string{escape(e.source), escape(e.path), escape(e.fstype), escape(e.options),
		strconv.Itoa(e.dump), strconv.Itoa(e.pass)}, " ")
}

// escape writes space, tab, line break and backslash as the octal escapes
// of fstab(5) and /proc/mounts.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			b.WriteString("\\" + strconv.FormatInt(int64(c)+0o1000, 8)[1:])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescape undoes escape: a backslash followed by three octal digits is
// that byte; any other backslash is kept, as getmntent does.
func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			n, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// parseLine reads an fstab line. ok is false for blank lines, comments and
// lines with fewer than two fields (which mount ignores or rejects; they
// are kept as they are).
func parseLine(l string) (e entry, ok bool) {
	l = strings.TrimRight(l, "\r\n")
	t := strings.TrimLeft(l, " \t")
	if t == "" || t[0] == '#' {
		return e, false
	}
	f := strings.Fields(t)
	if len(f) < 2 {
		return e, false
	}
	e.source, e.path = unescape(f[0]), unescape(f[1])
	e.fstype, e.options = "auto", "defaults"
	if len(f) > 2 {
		e.fstype = unescape(f[2])
	}
	if len(f) > 3 {
		e.options = unescape(f[3])
	}
	// Like getmntent, a missing or unreadable number counts as 0.
	if len(f) > 4 {
		e.dump, _ = strconv.Atoi(f[4])
	}
	if len(f) > 5 {
		e.pass, _ = strconv.Atoi(f[5])
	}
	return e, true
}

// edit is the result of editing an fstab.
type edit struct {
	content string
	changed bool
	found   bool   // an entry for the mount point was there
	old     string // the first such line, without its line break
}

// editFstab puts want (nil: no entry) as the entry of its mount point in
// content. The first line for that mount point is replaced (kept byte for
// byte when it already says the same), later ones are removed; a missing
// entry is appended. Every other line is kept byte for byte.
func editFstab(content, path string, want *entry) edit {
	var out strings.Builder
	res := edit{}
	lines := splitLines(content)
	nl := "\n"
	if len(lines) > 0 && strings.HasSuffix(lines[0], "\r\n") {
		nl = "\r\n"
	}
	for _, l := range lines {
		e, ok := parseLine(l)
		if !ok || e.path != path {
			out.WriteString(l)
			continue
		}
		if res.found || want == nil {
			// A duplicate, or an entry to remove.
			if !res.found {
				res.old = strings.TrimRight(l, "\r\n")
			}
			res.found, res.changed = true, true
			continue
		}
		res.found, res.old = true, strings.TrimRight(l, "\r\n")
		if e == *want {
			out.WriteString(l)
			continue
		}
		res.changed = true
		end := nl
		switch {
		case strings.HasSuffix(l, "\r\n"):
			end = "\r\n"
		case strings.HasSuffix(l, "\n"):
			end = "\n"
		}
		out.WriteString(want.line() + end)
	}
	if want != nil && !res.found {
		s := out.String()
		if s != "" && !strings.HasSuffix(s, "\n") {
			out.WriteString(nl)
		}
		out.WriteString(want.line() + nl)
		res.changed = true
	}
	res.content = out.String()
	if !res.changed {
		res.content = content
	}
	return res
}

// splitLines splits s after each line break; the last line may have none.
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
