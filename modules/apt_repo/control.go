package aptrepo

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Field is one field of a deb822 paragraph. Value is what follows "Name:"
// with one leading space removed; continuation lines keep theirs, so a
// paragraph prints back byte for byte.
type Field struct{ Name, Value string }

// Paragraph is one deb822 stanza, like a .deb's control file: fields in
// the order written.
type Paragraph []Field

// maxControl bounds a control file; real ones are a few kilobytes.
const maxControl = 1 << 20

var fieldName = regexp.MustCompile(`^[!-9;-~]+$`) // printable, no colon, no space

// ParseParagraph reads a single deb822 paragraph. Trailing blank lines are
// allowed; a second paragraph, a continuation line without a field, a
// repeated field, a carriage return or a NUL byte is an error.
func ParseParagraph(text string) (Paragraph, error) {
	if len(text) > maxControl {
		return nil, fmt.Errorf("control file is %d bytes; more than %d is not a control file", len(text), maxControl)
	}
	if strings.ContainsAny(text, "\r\x00") {
		return nil, errors.New("control file contains a carriage return or NUL byte")
	}
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return nil, errors.New("control file is empty")
	}
	var p Paragraph
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		switch {
		case line == "" || strings.TrimSpace(line) == "":
			return nil, fmt.Errorf("control file line %d: a blank line; a binary package has one paragraph", i+1)
		case line[0] == ' ' || line[0] == '\t':
			if len(p) == 0 {
				return nil, fmt.Errorf("control file line %d: a continuation line before any field", i+1)
			}
			p[len(p)-1].Value += "\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !fieldName.MatchString(name) || name[0] == '#' || name[0] == '-' {
			return nil, fmt.Errorf("control file line %d: not a field (Name: value): %q", i+1, truncate(line, 60))
		}
		key := strings.ToLower(name)
		if seen[key] {
			return nil, fmt.Errorf("control file line %d: field %s given twice", i+1, name)
		}
		seen[key] = true
		p = append(p, Field{Name: name, Value: strings.TrimPrefix(value, " ")})
	}
	return p, nil
}

// Get returns a field's value (names are case-insensitive), "" when absent.
// For single-line fields it is trimmed.
func (p Paragraph) Get(name string) string {
	for _, f := range p {
		if strings.EqualFold(f.Name, name) {
			return strings.TrimSpace(f.Value)
		}
	}
	return ""
}

// Without returns the paragraph without the named fields.
func (p Paragraph) Without(names ...string) Paragraph {
	var out Paragraph
	for _, f := range p {
		drop := false
		for _, n := range names {
			drop = drop || strings.EqualFold(f.Name, n)
		}
		if !drop {
			out = append(out, f)
		}
	}
	return out
}

// String prints the paragraph, each field ending in a newline.
func (p Paragraph) String() string {
	var b strings.Builder
	for _, f := range p {
		b.WriteString(f.Name)
		b.WriteByte(':')
		if f.Value != "" && f.Value[0] != '\n' {
			b.WriteByte(' ')
		}
		b.WriteString(f.Value)
		b.WriteByte('\n')
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Names that end up in paths and URLs are checked strictly: Debian policy
// for package names, and for versions the characters dpkg accepts (a colon
// only after the epoch, so that file names never hold one).
var (
	pkgName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	pkgVersion = regexp.MustCompile(`^(?:[0-9]+:)?[0-9A-Za-z][0-9A-Za-z.+~-]*$`)
	archName   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	distName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`) // suites and components
)

// CheckName says why s cannot be a suite or component name, if it cannot.
func CheckName(what, s string) error {
	if !distName.MatchString(s) || len(s) > 100 {
		return fmt.Errorf("%s %q: use letters, digits and . _ + - (starting with a letter or digit)", what, s)
	}
	return nil
}

// CheckArch says why s cannot be an architecture name, if it cannot.
func CheckArch(s string) error {
	if !archName.MatchString(s) || s == "all" || len(s) > 40 {
		return fmt.Errorf("architecture %q: use a Debian architecture name like amd64, arm64, armhf", s)
	}
	return nil
}

// poolPath is where Debian keeps a package: pool/COMPONENT/PREFIX/SOURCE/
// NAME_VERSION_ARCH.deb, PREFIX being "lib" and one letter for lib*
// sources, else the first letter; the epoch is not part of file names.
func poolPath(component, source, name, version, arch string) string {
	prefix := source[:1]
	if strings.HasPrefix(source, "lib") && len(source) > 3 {
		prefix = source[:4]
	}
	if _, v, ok := strings.Cut(version, ":"); ok {
		version = v
	}
	return "pool/" + component + "/" + prefix + "/" + source + "/" + name + "_" + version + "_" + arch + ".deb"
}
