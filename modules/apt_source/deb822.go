package aptsource

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/pinery/pinery/engine/resource"
)

// deb822 is a source's stanza before rendering.
type deb822 struct {
	types, uris, suites, components, archs []string
	signedBy                               string
	enabled                                bool
	options                                [][2]string // canonical name, value; sorted
}

// knownOptions are the options of sources.list(5) (apt 2.6 to 3.x) that
// are not fields of their own, by lower-case name.
var knownOptions = canonical(
	"Architectures-Add", "Architectures-Remove",
	"Languages", "Languages-Add", "Languages-Remove",
	"Targets", "Targets-Add", "Targets-Remove",
	"PDiffs", "By-Hash",
	"Allow-Insecure", "Allow-Weak", "Allow-Downgrade-To-Insecure", "Trusted",
	"Check-Valid-Until", "Valid-Until-Min", "Valid-Until-Max",
	"Check-Date", "Date-Max-Future", "InRelease-Path", "Snapshot",
	"Include", "Exclude",
)

// ownFields are written from the resource's own fields.
var ownFields = map[string]string{
	"types": "types", "uris": "uris", "suites": "suites", "components": "components",
	"architectures": "architectures", "signed-by": "signing_key, signing_key_source or signed_by", "enabled": "enabled",
}

func canonical(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}

var (
	archRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	optionRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
)

// newDeb822 validates the fields that make up the stanza.
func newDeb822(cfg resource.Config) (*deb822, error) {
	d := &deb822{}
	var err error
	if d.types, err = words(cfg, "types", false); err != nil {
		return nil, err
	}
	if len(d.types) == 0 {
		if cfg.IsSet("types") {
			return nil, cfg.Errorf("types", "must not be empty; leave it out for [\"deb\"]")
		}
		d.types = []string{"deb"}
	}
	for _, t := range d.types {
		if t != "deb" && t != "deb-src" {
			return nil, cfg.Errorf("types", "must be \"deb\" or \"deb-src\", not %q", t)
		}
	}
	if d.uris, err = words(cfg, "uris", true); err != nil {
		return nil, err
	}
	for _, u := range d.uris {
		if err := checkURI(u); err != nil {
			return nil, cfg.Errorf("uris", "%v", err)
		}
	}
	if d.suites, err = words(cfg, "suites", true); err != nil {
		return nil, err
	}
	if d.components, err = words(cfg, "components", false); err != nil {
		return nil, err
	}
	flat := 0
	for _, s := range d.suites {
		if strings.HasSuffix(s, "/") {
			flat++
		}
	}
	switch {
	case flat > 0 && flat < len(d.suites):
		return nil, cfg.Errorf("suites", "mixes flat repository paths (ending in /) with suites; write them as two apt_source resources")
	case flat > 0 && len(d.components) > 0:
		return nil, cfg.Errorf("components", "must be empty for a flat repository (suites ending in /)")
	case flat == 0 && len(d.components) == 0:
		return nil, cfg.Errorf("components", "is required (e.g. [\"main\"]); only a flat repository, whose suite ends in /, has none")
	}
	if d.archs, err = words(cfg, "architectures", false); err != nil {
		return nil, err
	}
	for _, a := range d.archs {
		if !archRE.MatchString(a) {
			return nil, cfg.Errorf("architectures", "%q is not a dpkg architecture name (like amd64, arm64, armhf)", a)
		}
	}
	if d.options, err = options(cfg); err != nil {
		return nil, err
	}
	return d, nil
}

// words reads a list of deb822 words: non-empty, without white space.
func words(cfg resource.Config, field string, required bool) ([]string, error) {
	ws := cfg.Strings(field)
	if required && len(ws) == 0 {
		return nil, cfg.Errorf(field, "is required and must not be empty")
	}
	seen := map[string]bool{}
	for _, w := range ws {
		switch {
		case w == "":
			return nil, cfg.Errorf(field, "must not contain an empty string")
		case strings.IndexFunc(w, badRune) >= 0:
			return nil, cfg.Errorf(field, "%q holds white space or a control character; give each value as its own list element", w)
		case seen[w]:
			return nil, cfg.Errorf(field, "lists %q twice", w)
		}
		seen[w] = true
	}
	return ws, nil
}

func badRune(r rune) bool { return r <= ' ' || r == 0x7f }

// checkURI accepts what apt can fetch from and refuses credentials, which
// would show in plans and in apt's own output.
func checkURI(s string) error {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || !schemeRE.MatchString(scheme) {
		return fmt.Errorf("%q has no scheme; write it like http://deb.example.org/debian", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URI: %v", s, err)
	}
	if u.User != nil {
		return fmt.Errorf("must not hold credentials (user@ or user:password@): they would show in plans and apt's output; put them in /etc/apt/auth.conf.d/ (see apt_auth.conf(5))")
	}
	switch scheme {
	case "http", "https", "ftp", "tor+http", "tor+https", "mirror+http", "mirror+https":
		if u.Host == "" || !strings.HasPrefix(rest, "//") {
			return fmt.Errorf("%q has no host; write it like %s://deb.example.org/debian", s, scheme)
		}
	}
	return nil
}

// options validates the extra options against apt's names.
func options(cfg resource.Config) ([][2]string, error) {
	v := cfg.Values["options"]
	if !cfg.IsSet("options") || !v.IsKnown() {
		return nil, nil
	}
	var out [][2]string
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		name := k.AsString()
		lower := strings.ToLower(name)
		if f, ok := ownFields[lower]; ok {
			return nil, cfg.Errorf("options", "%q is written from %s; set that instead", name, f)
		}
		canon, ok := knownOptions[lower]
		switch {
		case ok:
		case strings.HasPrefix(lower, "x-") && optionRE.MatchString(name):
			canon = name
		default:
			return nil, cfg.Errorf("options", "%q is not an apt source option (see sources.list(5): %s; or X-… for your own)", name, strings.Join(sortedValues(knownOptions), ", "))
		}
		if e.IsNull() || e.AsString() == "" {
			return nil, cfg.Errorf("options", "%q has an empty value; leave it out instead", name)
		}
		val := e.AsString()
		if strings.ContainsFunc(val, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return nil, cfg.Errorf("options", "the value of %q must be one line without control characters", name)
		}
		out = append(out, [2]string{canon, strings.TrimSpace(val)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	for i := 1; i < len(out); i++ {
		if out[i][0] == out[i-1][0] {
			return nil, cfg.Errorf("options", "sets %q twice (names are matched without regard to case)", out[i][0])
		}
	}
	return out, nil
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// render writes the stanza in a fixed order, so that the same
// configuration always gives the same bytes.
func (d *deb822) render(label string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by pinery (apt_source %q); changes made here are overwritten.\n", label)
	field := func(k string, vs []string) {
		if len(vs) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, " "))
		}
	}
	field("Types", d.types)
	field("URIs", d.uris)
	field("Suites", d.suites)
	field("Components", d.components)
	field("Architectures", d.archs)
	field("Signed-By", []string{d.signedBy})
	if !d.enabled {
		field("Enabled", []string{"no"})
	}
	for _, o := range d.options {
		field(o[0], []string{o[1]})
	}
	return b.String()
}
