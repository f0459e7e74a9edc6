// Package pkg is the "package" resource type: Debian packages through
// dpkg and apt.
package pkg

import (
	"context"
	"regexp"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const doc = `Installs, upgrades, pins or removes one Debian package with apt.

**Reading.** The probe asks dpkg for the package's status and version (one
` + "`dpkg-query`" + ` for all the packages of a host). Only when something may need doing
does it also ask apt for the candidate version (one ` + "`apt-cache policy`" + ` for all
such packages); ` + "`state = \"latest\"`" + `
always asks, and also checks how old the apt lists are. Nothing is changed while
planning: apt-get update never runs during a plan.

**Planning.** ` + "`+`" + ` installs a missing package (showing the version apt would
pick, or "known after apply" when the package is not in the apt lists yet, e.g.
because an ` + "`apt_source`" + ` applied earlier in the same run provides it);
` + "`~`" + ` changes the version (a pin that differs, an upgrade for ` + "`latest`" + `,
or a half-installed package to repair); ` + "`-`" + ` removes or purges. With
` + "`state = \"latest\"`" + ` and apt lists older than ` + "`cache_valid_time`" + `, the
plan says an upgrade is *possible* ("newest after apt-get update"), because
the newest version is only known once the lists are refreshed at apply.

**Applying.** All packages of a host that need a change are applied together
in one apt transaction (` + "`apt-get install a b=1.2 c-`" + `), non-interactively,
keeping locally modified configuration files (` + "`--force-confold`" + `). Before
installing, ` + "`apt-get update`" + ` runs once when any of them has
` + "`update_cache`" + ` set and the lists are missing, older than
` + "`cache_valid_time`" + `, or older than a change to
` + "`/etc/apt/sources.list(.d)`" + `, or when a pinned ` + "`version`" + ` is not in them (a repository
published it since the last update); this is checked again at apply time. apt
waits up to 60 seconds for another apt or dpkg process to release its lock.
Package names are matched exactly, never as patterns or regular expressions.

Errors say what went wrong in apt's terms: a package that is not in the
configured apt sources, a version that is not available, a lock held by another
apt/dpkg process, an interrupted dpkg run.`

const example = `package "nginx" {
  name = "nginx"
}

package "postgresql" {
  name    = "postgresql-15"
  version = "15.8-0+deb12u1"
}

package "exim" {
  name  = "exim4-base"
  state = "purged"
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "package",
		Summary: "A Debian package installed, pinned, kept at the newest version, removed or purged (apt).",
		Doc:     doc,
		Example: example,
		Fields: []resource.Field{
			{Name: "name", Type: cty.String, Required: true,
				Doc: "The package name as apt knows it (`nginx`, `libc6:armhf`): lowercase letters, digits, `+`, `-` and `.`, optionally `:arch`. Matched exactly."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`present` (installed, any version), `latest` (upgraded to apt's candidate version), `absent` (removed, configuration files kept) or `purged` (removed with its configuration files)."},
			{Name: "version", Type: cty.String,
				Doc: "Pin an exact version, as dpkg prints it including any epoch (`1:2.3-4`); implies `state = \"present\"`. A different installed version is upgraded or downgraded to it."},
			{Name: "update_cache", Type: cty.Bool, Default: cty.True,
				Doc: "Run `apt-get update` before installing when the apt lists are missing, older than `cache_valid_time`, or older than the apt sources. At most once per host and run, whatever the number of packages."},
			{Name: "cache_valid_time", Type: cty.Number, Default: resource.Num(3600),
				Doc: "How many seconds apt lists stay fresh enough not to be updated before an install; 0 updates before every install."},
			{Name: "install_recommends", Type: cty.Bool, Default: cty.False,
				Doc: "Also install the packages the package recommends. Off by default: on small boards recommended packages cost disk, memory and boot time, and servers rarely need them. Applies to this package's install only."},
		},
		New: New,
	})
}

// Package is one package on one host.
type Package struct {
	name        string
	state       string // present, latest, absent, purged
	version     string // pinned version or ""
	updateCache bool
	cacheValid  int64 // seconds
	recommends  bool
}

var (
	_ resource.Resource   = (*Package)(nil)
	_ resource.Aggregator = (*Package)(nil)
)

// Debian policy §5.6.1 (package names) with an optional multiarch
// qualifier, and §5.6.12 (versions). Both exclude every shell metacharacter
// and a leading dash.
var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9][a-z0-9-]*)?$`)
	versionRE = regexp.MustCompile(`^([0-9]+:)?[A-Za-z0-9][A-Za-z0-9.+~-]*$`)
)

// New validates a package block.
func New(cfg resource.Config) (resource.Resource, error) {
	p := &Package{
		name:        cfg.String("name"),
		state:       cfg.String("state"),
		version:     cfg.String("version"),
		updateCache: cfg.Bool("update_cache"),
		cacheValid:  cfg.Int("cache_valid_time"),
		recommends:  cfg.Bool("install_recommends"),
	}
	if p.state == "" {
		p.state = "present"
	}
	if !nameRE.MatchString(p.name) {
		return nil, cfg.Errorf("name", "%q is not a Debian package name: use lowercase letters, digits, '+', '-' and '.' (at least two characters, starting with a letter or digit), optionally followed by ':arch'", p.name)
	}
	switch p.state {
	case "present", "latest", "absent", "purged":
	default:
		return nil, cfg.Errorf("state", "%q is not a package state: use \"present\", \"latest\", \"absent\" or \"purged\"", p.state)
	}
	if cfg.IsSet("version") {
		if !versionRE.MatchString(p.version) {
			return nil, cfg.Errorf("version", "%q is not a Debian version: write it as dpkg prints it, e.g. \"1.22.1-9\" or \"1:2.3~rc1-2+deb12u1\"", p.version)
		}
		if p.state != "present" {
			return nil, cfg.Errorf("version", "a pinned version means the package is installed: remove version, or remove state = %q", p.state)
		}
	}
	if p.cacheValid < 0 {
		return nil, cfg.Errorf("cache_valid_time", "must be 0 or more seconds, not %d", p.cacheValid)
	}
	return p, nil
}

// Apply applies one package; it is ApplyAll with one element.
func (p *Package) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	return p.ApplyAll(ctx, h, []resource.Resource{p}, []*resource.Diff{d})
}
