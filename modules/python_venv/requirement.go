package pythonvenv

import (
	"fmt"
	"regexp"
	"strings"
)

// requirement is one package the venv must hold.
type requirement struct {
	name    string // as written
	key     string // normalized (PEP 503), to match what is installed
	extras  []string
	version string // the pinned version as written; "" for any version
	pin     version
	hashes  []string // "sha256:…", for pip's hash-checking mode
	// sensitive: from a sensitive value, so never shown.
	sensitive bool
}

// line is the requirement as pip reads it in a requirements file.
func (r requirement) line() string {
	s := r.name
	if len(r.extras) > 0 {
		s += "[" + strings.Join(r.extras, ",") + "]"
	}
	if r.version != "" {
		s += "==" + r.version
	}
	for _, h := range r.hashes {
		s += " --hash=" + h
	}
	return s
}

var (
	nameRE     = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]|[A-Za-z0-9])`) // the longer first: Go takes the first that matches
	fullNameRE = regexp.MustCompile(`^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$`)
	sepRunRE   = regexp.MustCompile(`[-_.]+`)
	hashRE     = regexp.MustCompile(`^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$`)
	commentRE  = regexp.MustCompile(`(^|\s)#.*$`)
)

// normalize is PEP 503's name normalization: Foo.Bar_baz is foo-bar-baz.
func normalize(name string) string {
	return strings.ToLower(sepRunRE.ReplaceAllString(name, "-"))
}

const pinHelp = "only exact pins (name==1.2.3) or a bare name (any version) are supported: versions are compared for equality, and only pins make every board alike"

// parseSpec reads one requirement: name, optional [extras], optional
// ==version. Ranges, markers and URLs are refused.
func parseSpec(s string) (requirement, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return requirement{}, fmt.Errorf("an empty requirement")
	case strings.Contains(s, ";"):
		return requirement{}, fmt.Errorf("%q: environment markers (;) are not supported: list only what this venv needs", s)
	case strings.Contains(s, "@") || strings.Contains(s, "://"):
		return requirement{}, fmt.Errorf("%q: direct URLs are not supported: publish the wheel to the index or find_links", s)
	}
	name := nameRE.FindString(s)
	if name == "" {
		return requirement{}, fmt.Errorf("%q does not start with a package name", s)
	}
	r := requirement{name: name, key: normalize(name)}
	rest := strings.TrimSpace(s[len(name):])
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return requirement{}, fmt.Errorf("%q: unclosed [ of extras", s)
		}
		for _, e := range strings.Split(rest[1:end], ",") {
			e = strings.TrimSpace(e)
			if !fullNameRE.MatchString(e) {
				return requirement{}, fmt.Errorf("%q: %q is not an extra's name", s, e)
			}
			r.extras = append(r.extras, e)
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	if rest == "" {
		return r, nil
	}
	v, ok := strings.CutPrefix(rest, "==")
	if !ok || strings.HasPrefix(v, "=") || strings.ContainsAny(v, ",*<>!~") {
		return requirement{}, fmt.Errorf("%q: %s", s, pinHelp)
	}
	v = strings.TrimSpace(v)
	pin, err := parseVersion(v)
	if err != nil {
		return requirement{}, fmt.Errorf("%q: %w", s, err)
	}
	r.version, r.pin = v, pin
	return r, nil
}

// parseRequirements reads the text of a requirements file: one
// requirement per line, # comments, \ continuations, and --hash options.
// Other options are refused: the index comes from the resource's fields.
func parseRequirements(text string) ([]requirement, error) {
	var out []requirement
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := lines[i]
		// Joined as pip joins them: no space added, a comment never continues.
		for strings.HasSuffix(line, `\`) && !isComment(lines[i]) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + lines[i]
		}
		line = strings.TrimSpace(commentRE.ReplaceAllString(strings.TrimSuffix(line, `\`), ""))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "-") {
			return nil, fmt.Errorf("line %d: %s", start, optionHelp(line))
		}
		fields := strings.Fields(line)
		n := len(fields)
		for j, f := range fields {
			if strings.HasPrefix(f, "-") {
				n = j
				break
			}
		}
		r, err := parseSpec(strings.Join(fields[:n], " "))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		opts := fields[n:]
		for j := 0; j < len(opts); j++ {
			h, ok := strings.CutPrefix(opts[j], "--hash=")
			if !ok && opts[j] == "--hash" && j+1 < len(opts) {
				j++
				h, ok = opts[j], true
			}
			if !ok {
				return nil, fmt.Errorf("line %d: %q: only --hash is allowed after a requirement", start, opts[j])
			}
			if !hashRE.MatchString(h) {
				return nil, fmt.Errorf("line %d: %q is not a hash: write --hash=sha256:<64 hex digits> (or sha384, sha512)", start, h)
			}
			r.hashes = append(r.hashes, h)
		}
		out = append(out, r)
	}
	return out, nil
}

func isComment(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), "#") }

// optionHelp says what to do instead of a pip option line.
func optionHelp(line string) string {
	opt, _, _ := strings.Cut(strings.Fields(line)[0], "=")
	switch opt {
	case "-i", "--index-url", "--extra-index-url", "--no-index":
		return fmt.Sprintf("%s: set the index with the index_url field", opt)
	case "-f", "--find-links":
		return fmt.Sprintf("%s: set find_links instead", opt)
	case "--only-binary", "--no-binary", "--prefer-binary":
		return fmt.Sprintf("%s: set only_binary instead", opt)
	}
	return fmt.Sprintf("%s: pip options are not supported here (only requirements, with --hash)", opt)
}

// version is a PEP 440 version in a canonical form for == comparisons:
// 1.0 and 1.0.0 are equal, 1.0-RC1 is 1rc1, v2 is 2.
type version struct {
	public string
	local  string // after +, "" when none
}

var versionRE = regexp.MustCompile(`(?i)^v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?` +
	`(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?` +
	`(?:[-_.]?(dev)[-_.]?(\d+)?)?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

// parseVersion canonicalizes a version, or says it is not PEP 440.
func parseVersion(s string) (version, error) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return version{}, fmt.Errorf("%q is not a version (PEP 440, like 1.2.3, 2.0rc1, 1.0.post1)", s)
	}
	var b strings.Builder
	if e := num(m[1]); e != "0" {
		b.WriteString(e + "!")
	}
	rel := strings.Split(m[2], ".")
	for len(rel) > 1 && num(rel[len(rel)-1]) == "0" {
		rel = rel[:len(rel)-1]
	}
	for i, r := range rel {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(num(r))
	}
	if m[3] != "" {
		pre := map[string]string{"a": "a", "alpha": "a", "b": "b", "beta": "b"}[strings.ToLower(m[3])]
		if pre == "" {
			pre = "rc"
		}
		b.WriteString(pre + num(m[4]))
	}
	switch {
	case m[5] != "":
		b.WriteString(".post" + num(m[5]))
	case m[6] != "":
		b.WriteString(".post" + num(m[7]))
	}
	if m[8] != "" {
		b.WriteString(".dev" + num(m[9]))
	}
	v := version{public: b.String()}
	if m[10] != "" {
		parts := sepRunRE.Split(strings.ToLower(m[10]), -1)
		for i, p := range parts {
			if strings.Trim(p, "0123456789") == "" {
				parts[i] = num(p)
			}
		}
		v.local = strings.Join(parts, ".")
	}
	return v, nil
}

// num drops leading zeros ("" and "000" are "0").
func num(s string) string {
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

// matches is PEP 440's ==: a pin without a local label ignores the
// installed version's label, as pip does.
func (pin version) matches(installed string) bool {
	v, err := parseVersion(installed)
	if err != nil {
		return false
	}
	return v.public == pin.public && (pin.local == "" || pin.local == v.local)
}
