// Package build is the `build` resource type: a recipe built on a builder
// host of the inventory, cached by a key of its inputs, its output
// collected to the controller and packaged as a .deb (debfile.go: the
// layout nfpm gave it, written without nfpm).
package build

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// buildsDir holds one directory per build on the builder.
const buildsDir = "/var/lib/pinery/builds"

func init() {
	resource.Register(&resource.Type{
		Name:    "build",
		Summary: "A recipe built on a builder host (typically an arm64 board), cached by its inputs, collected to the controller and packaged as a .deb.",
		Doc:     doc,
		Example: example,
		Fields:  fields(),
		New:     New,
	})
}

// Build is one configured build on one builder.
type Build struct {
	name    string
	hostDir string // on the builder: buildsDir/NAME
	outDir  string // on the controller, absolute or relative to the process
	baseDir string

	src       source
	deps      []string // sorted, without duplicates
	script    string
	artifacts []string
	deb       *debSpec // nil: no package

	sensitive map[string]bool // fields whose values are never shown
	secrets   []string        // sensitive values, blanked out of messages
}

var _ resource.Resource = (*Build)(nil)

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]*$`)
	// A Debian package name, optionally qualified with an architecture.
	debPkgRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`)
	commitRE = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// New validates a build block. A source_dir is read and hashed here, like
// a file's source, so that a missing directory is an error at its line.
func New(cfg resource.Config) (resource.Resource, error) {
	b := &Build{name: cfg.Name, baseDir: cfg.BaseDir, sensitive: maps.Clone(cfg.Sensitive)}
	if cfg.IsSet("name") {
		b.name = cfg.String("name")
	}
	if !nameRE.MatchString(b.name) || len(b.name) > 100 {
		return nil, cfg.Errorf("name", "%q cannot name the build's directories: use letters, digits, '_', '.', '+' and '-', starting with a letter or digit (set name, or change the block's label)", b.name)
	}
	b.hostDir = buildsDir + "/" + b.name

	for _, f := range []string{"source_dir", "source_url", "source_sha256", "source_git", "source_ref", "script", "output_dir"} {
		v := cfg.String(f)
		if strings.ContainsRune(v, 0) {
			return nil, cfg.Errorf(f, "contains a NUL byte")
		}
		if cfg.IsSensitive(f) && v != "" {
			b.secrets = append(b.secrets, v)
		}
	}

	out := cfg.String("output_dir")
	if !cfg.IsSet("output_dir") {
		out = filepath.Join(".pinery", "build", b.name)
	}
	if out == "" {
		return nil, cfg.Errorf("output_dir", "must not be empty")
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(cfg.BaseDir, out)
	}
	b.outDir = filepath.Clean(out)

	if err := b.newSource(cfg); err != nil {
		return nil, err
	}

	for _, p := range cfg.Strings("build_depends") {
		if !debPkgRE.MatchString(p) {
			return nil, cfg.Errorf("build_depends", "%q is not a Debian package name (lower-case letters, digits, '+', '-' and '.', optionally :ARCH)", p)
		}
		b.deps = append(b.deps, p)
	}
	if b.src.kind == srcGit {
		b.deps = append(b.deps, "git")
	}
	slices.Sort(b.deps)
	b.deps = slices.Compact(b.deps)

	b.script = cfg.String("script")
	if strings.TrimSpace(b.script) == "" {
		return nil, cfg.Errorf("script", "must not be empty: give the commands that build and install into $DESTDIR")
	}

	for _, p := range cfg.Strings("artifacts") {
		if err := checkPattern(p); err != nil {
			return nil, cfg.Errorf("artifacts", "%v", err)
		}
		b.artifacts = append(b.artifacts, p)
	}

	deb, err := newDebSpec(cfg, b.name)
	if err != nil {
		return nil, err
	}
	b.deb = deb
	if b.deb == nil && len(b.artifacts) == 0 {
		return nil, cfg.Errorf("script", "the build collects nothing: set deb_version (and deb_maintainer) to package it as a .deb, or artifacts to copy files")
	}
	return b, nil
}

// newSource checks that exactly one source is set, with its companion.
func (b *Build) newSource(cfg resource.Config) error {
	var set []string
	for _, f := range []string{"source_dir", "source_url", "source_git"} {
		if cfg.IsSet(f) {
			set = append(set, f)
		}
	}
	switch len(set) {
	case 0:
		return cfg.Errorf("script", "set one source: source_dir (a directory on the controller), source_url with source_sha256 (an archive), or source_git with source_ref (a commit)")
	case 1:
	default:
		return cfg.Errorf(set[1], "set exactly one source, not both %s and %s", set[0], set[1])
	}
	for field, needs := range map[string]string{"source_sha256": "source_url", "source_ref": "source_git"} {
		if cfg.IsSet(field) && set[0] != needs {
			return cfg.Errorf(field, "goes with %s; remove it", needs)
		}
	}
	switch set[0] {
	case "source_dir":
		dir := cfg.String("source_dir")
		if dir == "" {
			return cfg.Errorf("source_dir", "must not be empty (write \".\" for the directory of this file)")
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(cfg.BaseDir, dir)
		}
		b.src = source{kind: srcDir, dir: filepath.Clean(dir)}
		digest, err := packSource(b.src.dir, b.outDir, nil)
		if err != nil {
			return cfg.Errorf("source_dir", "%v", err)
		}
		b.src.digest = digest
	case "source_url":
		raw := cfg.String("source_url")
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg.Errorf("source_url", "%s is not an http:// or https:// URL", b.showURL(raw, "source_url"))
		}
		sum := cfg.String("source_sha256")
		if !cfg.IsSet("source_sha256") {
			return cfg.Errorf("source_url", "needs source_sha256, the SHA-256 of the archive (sha256sum FILE), so that the build's input is known")
		}
		if !sha256RE.MatchString(sum) {
			return cfg.Errorf("source_sha256", "must be 64 lower-case hex digits, as sha256sum prints them")
		}
		b.src = source{kind: srcURL, url: raw, sha256: sum, digest: "sha256:" + sum}
	case "source_git":
		repo := cfg.String("source_git")
		if repo == "" || strings.HasPrefix(repo, "-") || strings.ContainsAny(repo, "\n\r") {
			return cfg.Errorf("source_git", "must be a repository URL or path, not empty, without line breaks and not starting with -")
		}
		ref := cfg.String("source_ref")
		if !commitRE.MatchString(ref) {
			return cfg.Errorf("source_ref", "must be a full commit hash (40 or 64 lower-case hex digits), so that the build's input is fixed; a branch or tag would move under the cache")
		}
		b.src = source{kind: srcGit, url: repo, commit: ref, digest: "git:" + ref}
	}
	return nil
}

// checkPattern accepts a glob relative to DESTDIR.
func checkPattern(p string) error {
	switch {
	case p == "" || strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q must be a pattern relative to DESTDIR, like \"usr/bin/*\"", p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Errorf("%q must not contain ..", p)
	case strings.ContainsAny(p, "\n\x00"):
		return fmt.Errorf("%q contains a line break or NUL byte", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%q is not a valid pattern: %v", p, err)
	}
	return nil
}

// showURL is a URL as messages may show it: a sensitive one not at all,
// and never with a password.
func (b *Build) showURL(raw, field string) string {
	if b.sensitive[field] {
		return "(sensitive " + field + ")"
	}
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return fmt.Sprintf("%q", raw)
}

// redact blanks sensitive values and URL passwords out of s.
func (b *Build) redact(s string) string {
	for _, v := range b.secrets {
		s = strings.ReplaceAll(s, v, "(sensitive)")
	}
	if b.src.url != "" && !b.sensitive["source_url"] && !b.sensitive["source_git"] {
		if u, err := url.Parse(b.src.url); err == nil {
			if p, ok := u.User.Password(); ok && p != "" {
				s = strings.ReplaceAll(s, p, "xxxxx")
			}
		}
	}
	return s
}

func fields() []resource.Field {
	str, list := cty.String, cty.List(cty.String)
	return []resource.Field{
		{Name: "name", Type: str,
			Doc: "The build's name: its directory on the builder is `/var/lib/pinery/builds/NAME` and its files on the controller are named after it. Letters, digits, `_`, `.`, `+` and `-`. Unset: the block's label. Set it with `for_each` (`name = each.key`), whose instances share the label."},
		{Name: "source_dir", Type: str,
			Doc: "A directory on the controller, relative to the file that declares the build (or absolute), shipped to the builder as a tar stream. `.git` and `.pinery` directories and the `output_dir` are left out. Its content is hashed when the state is loaded: an edit means a rebuild."},
		{Name: "source_url", Type: str,
			Doc: "An `http://` or `https://` URL of a tar archive (plain, gzip, bzip2, xz or zstd), downloaded by the controller (the builder needs no internet), checked against `source_sha256`, cached in `.pinery/cache/sources/` beside the declaring file and shipped to the builder unpacked. When the archive holds a single top directory (`hello-1.0/`), the script runs in it."},
		{Name: "source_sha256", Type: str,
			Doc: "The SHA-256 of the `source_url` archive (64 hex digits, as `sha256sum` prints it). Required with `source_url`."},
		{Name: "source_git", Type: str,
			Doc: "A git repository URL (or path on the builder), cloned on the builder with git (installed there as a build dependency). Submodules are checked out too."},
		{Name: "source_ref", Type: str,
			Doc: "The full commit hash to build from `source_git`. A branch or tag is refused: the cache key must not move by itself. Required with `source_git`."},
		{Name: "build_depends", Type: list,
			Doc: "Debian packages installed on the builder before building (`apt-get install --no-install-recommends`, after an `apt-get update`, only when one is missing). They stay installed."},
		{Name: "script", Type: str, Required: true,
			Doc: "The build, a POSIX sh script run as root with `sh -e` in the unpacked source, with `DESTDIR` (install everything there: it becomes the package's root), `PINERY_ARCH` (the builder's `dpkg --print-architecture`) and `JOBS` (its number of CPUs) in the environment, umask 022, stdin empty."},
		{Name: "output_dir", Type: str,
			Doc: "Directory on the controller for the .deb, the artifacts, the log and the build record, relative to the declaring file (or absolute). Default: `.pinery/build/NAME`."},
		{Name: "artifacts", Type: list,
			Doc: "Glob patterns (`path.Match`, where `*` does not cross `/`), relative to DESTDIR, of files to copy to `OUTPUT/ARCH/` as plain files (`usr/bin/*` → `OUTPUT/arm64/usr/bin/hello`). Each pattern must match at least one regular file."},
		{Name: "deb_name", Type: str,
			Doc: "The package's name. Default: the build's name (which must then be a valid Debian package name)."},
		{Name: "deb_version", Type: str,
			Doc: "The package's version, Debian style (`1.0`, `1.0-1`, `2:1.0~rc1-3`). Setting it makes the build a package: DESTDIR, as the script left it, becomes `OUTPUT/NAME_VERSION_ARCH.deb` (without the epoch, as `dpkg-name` names files)."},
		{Name: "deb_maintainer", Type: str,
			Doc: "`Name <email>`, as Debian requires. Required with `deb_version`."},
		{Name: "deb_description", Type: str,
			Doc: "The description: the first line is the synopsis, the rest the long description. Default: `NAME, built by pinery`."},
		{Name: "deb_arch", Type: str,
			Doc: "The package's Architecture. Default: the builder's (`dpkg --print-architecture`). `all` for architecture-independent content: build such a package on one builder only, since every builder would write the same file."},
		{Name: "deb_section", Type: str, Default: cty.StringVal("misc"),
			Doc: "The Section field."},
		{Name: "deb_priority", Type: str, Default: cty.StringVal("optional"),
			Doc: "The Priority field: `required`, `important`, `standard`, `optional` or `extra`."},
		{Name: "deb_homepage", Type: str,
			Doc: "The Homepage field."},
		{Name: "deb_license", Type: str,
			Doc: "The license (an SPDX name like `MIT`), written to `/usr/share/doc/NAME/copyright` in the package unless DESTDIR already has that file. Debian has no License control field."},
		{Name: "deb_depends", Type: list,
			Doc: "Depends: one relation per item, alternatives with `|` (`[\"libc6 (>= 2.36)\", \"default-mta | mail-transport-agent\"]`). Nothing is computed from the binaries (there is no `dpkg-shlibdeps`): list the libraries the program links."},
		{Name: "deb_recommends", Type: list, Doc: "Recommends, like `deb_depends`."},
		{Name: "deb_suggests", Type: list, Doc: "Suggests, like `deb_depends`."},
		{Name: "deb_conflicts", Type: list, Doc: "Conflicts, like `deb_depends`."},
		{Name: "deb_breaks", Type: list, Doc: "Breaks, like `deb_depends`."},
		{Name: "deb_replaces", Type: list, Doc: "Replaces, like `deb_depends`."},
		{Name: "deb_provides", Type: list, Doc: "Provides, like `deb_depends`."},
		{Name: "deb_conffiles", Type: list,
			Doc: "Absolute paths of configuration files in the package (`/etc/hello.conf`): dpkg keeps a local edit on upgrade. Each must be a regular file in DESTDIR."},
		{Name: "deb_scripts", Type: cty.Map(cty.String),
			Doc: "Maintainer scripts by name: `preinst`, `postinst`, `prerm`, `postrm` (`{ postinst = file(\"postinst\") }`). A script without a `#!` line gets `#!/bin/sh` and `set -e`."},
	}
}
