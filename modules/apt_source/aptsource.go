// Package aptsource is the `apt_source` resource type: one apt repository
// as a deb822 .sources file whose Signed-By names the repository's own key.
package aptsource

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// Where apt reads sources and where the keys go (apt's documented place
// for keys that are not managed by a package).
const (
	sourcesDir = "/etc/apt/sources.list.d"
	keyringDir = "/etc/apt/keyrings"
	listsDir   = "/var/lib/apt/lists"
)

func init() {
	resource.Register(&resource.Type{
		Name:    "apt_source",
		Summary: "An apt repository: a deb822 .sources file with Signed-By and its key, lists refreshed when it changes.",
		Doc:     doc,
		Example: example,
		Fields: []resource.Field{
			{Name: "uris", Type: cty.List(cty.String),
				Doc: "The repository's base URIs (`URIs:`), e.g. `[\"https://apt.example.org/debian\"]`. Required with `state = \"present\"`. No credentials in the URI: they would show in plans and apt's output; use `/etc/apt/auth.conf.d/` (a `file` resource with `sensitive = true`)."},
			{Name: "suites", Type: cty.List(cty.String),
				Doc: "Suites or codenames (`Suites:`), e.g. `[\"bookworm\"]`. A suite ending in `/` is a flat repository's path (then `components` must be empty). Required with `state = \"present\"`."},
			{Name: "components", Type: cty.List(cty.String),
				Doc: "Components (`Components:`), e.g. `[\"main\"]`. Required, unless the suites are flat paths ending in `/`, where it must be empty."},
			{Name: "types", Type: cty.List(cty.String),
				Doc: "`Types:`: `[\"deb\"]` (binary packages, the default), `[\"deb-src\"]` (source packages), or both."},
			{Name: "architectures", Type: cty.List(cty.String),
				Doc: "Only these architectures (`Architectures:`, dpkg names like `amd64`, `arm64`). Unset: every architecture dpkg is configured for."},
			{Name: "signing_key", Type: cty.String,
				Doc: "The repository's OpenPGP public key, ASCII-armoured (`file(\"keys/repo.asc\")`); written to `/etc/apt/keyrings/pinery-NAME.asc`. One of `signing_key`, `signing_key_source` or `signed_by` is required."},
			{Name: "signing_key_source", Type: cty.String,
				Doc: "A key file on the controller, relative to the declaring .hcl file: armoured (written as `pinery-NAME.asc`) or binary as `gpg --export` writes it (written as `pinery-NAME.gpg`, byte for byte)."},
			{Name: "signed_by", Type: cty.String,
				Doc: "The absolute path of a keyring already on the host (from a package, e.g. `/usr/share/keyrings/debian-archive-keyring.gpg`); pinery writes no key."},
			{Name: "options", Type: cty.Map(cty.String),
				Doc: "Further deb822 options, e.g. `{ \"Check-Valid-Until\" = \"no\" }`. Names are apt's (`sources.list(5)`: `By-Hash`, `PDiffs`, `Languages`, `Targets`, `Trusted`, `Check-Date`, `InRelease-Path`, `Snapshot`, …, matched without regard to case) or start with `X-`; a misspelt name is an error."},
			{Name: "enabled", Type: cty.Bool, Default: cty.True,
				Doc: "`false` keeps the file but writes `Enabled: no`: apt ignores the source."},
			{Name: "update", Type: cty.Bool, Default: cty.True,
				Doc: "When the file or the key changed, run `apt-get update` for this source only and undo the change if apt refuses it."},
			{Name: "name", Type: cty.String,
				Doc: "The files' base name: `/etc/apt/sources.list.d/NAME.sources`, `/etc/apt/keyrings/pinery-NAME.asc`. Defaults to the block label; set it with `for_each` (`name = each.key`). Letters, digits, `_`, `-` and `.`, not starting with `.` (apt silently ignores other names)."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"` (both files removed; the other fields may stay and are not used)."},
		},
		New: New,
	})
}

// Source is one configured apt source on one host.
type Source struct {
	label, name string
	absent      bool
	enabled     bool
	update      bool
	key         *key   // nil with signed_by
	content     []byte // the .sources file
	sum         string
	sensitive   bool // part of the content is sensitive: no text diff
}

var _ resource.Resource = (*Source)(nil)

// apt ignores files in sources.list.d whose names hold anything else, and
// those starting with a dot.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)

// New validates an apt_source block and reads its key.
func New(cfg resource.Config) (resource.Resource, error) {
	s := &Source{label: cfg.Name, name: cfg.Name, enabled: cfg.Bool("enabled"), update: cfg.Bool("update")}
	if cfg.IsSet("name") {
		s.name = cfg.String("name")
	}
	switch {
	case !nameRE.MatchString(s.name):
		return nil, cfg.Errorf("name", "%q cannot name an apt source file: apt reads only names of letters, digits, _, - and . that do not start with . (set name = \"...\" to choose another)", s.name)
	case len(s.name) > 200:
		return nil, cfg.Errorf("name", "is %d characters long; keep it under 200", len(s.name))
	}
	switch st := cfg.String("state"); st {
	case "present":
	case "absent":
		s.absent = true
		return s, nil
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}

	src, err := newDeb822(cfg)
	if err != nil {
		return nil, err
	}
	var set []string
	for _, n := range []string{"signing_key", "signing_key_source", "signed_by"} {
		if cfg.IsSet(n) {
			set = append(set, n)
		}
	}
	switch len(set) {
	case 0:
		return nil, cfg.Errorf("signing_key", "set one of signing_key, signing_key_source or signed_by: pinery writes no source that apt would trust with every key it knows")
	case 1:
	default:
		return nil, cfg.Errorf(set[1], "set only one of signing_key, signing_key_source or signed_by, not both %s and %s", set[0], set[1])
	}
	switch set[0] {
	case "signing_key":
		if s.key, err = parseKey([]byte(cfg.String("signing_key")), true); err != nil {
			return nil, cfg.Errorf("signing_key", "%v", err)
		}
	case "signing_key_source":
		p := cfg.String("signing_key_source")
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.BaseDir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, cfg.Errorf("signing_key_source", "cannot read %s: %v", p, unwrapPathError(err))
		}
		if s.key, err = parseKey(b, false); err != nil {
			return nil, cfg.Errorf("signing_key_source", "%s: %v", p, err)
		}
	case "signed_by":
		p := cfg.String("signed_by")
		switch {
		case !strings.HasPrefix(p, "/"):
			return nil, cfg.Errorf("signed_by", "must be an absolute path on the host, not %q", p)
		case filepath.Clean(p) != p || strings.ContainsAny(p, " \t\r\n\x00"):
			return nil, cfg.Errorf("signed_by", "must be a clean path without spaces, not %q", p)
		case strings.HasPrefix(p, keyringDir+"/pinery-"):
			return nil, cfg.Errorf("signed_by", "%s is where pinery keeps the keys of signing_key; use signing_key or signing_key_source instead", p)
		}
		src.signedBy = p
	}
	if s.key != nil {
		src.signedBy = s.keyPath(s.key.ext)
	}
	src.enabled = s.enabled
	s.content = []byte(src.render(s.label))
	sum := sha256.Sum256(s.content)
	s.sum = hex.EncodeToString(sum[:])
	for _, n := range []string{"uris", "suites", "components", "types", "architectures", "options", "signed_by"} {
		s.sensitive = s.sensitive || cfg.IsSensitive(n)
	}
	return s, nil
}

func (s *Source) sourcesPath() string { return sourcesDir + "/" + s.name + ".sources" }

func (s *Source) keyPath(ext string) string { return keyringDir + "/pinery-" + s.name + "." + ext }

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
