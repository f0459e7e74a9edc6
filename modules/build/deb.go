package build

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pinery/pinery/engine/resource"
)

// debSpec is what the .deb says about itself. It is part of the output
// key and of the record, encoded as JSON: each name is its field's without
// "deb_", which the plan shows.
type debSpec struct {
	Name            string            `json:"name"`
	Version         string            `json:"version"`
	epoch, upstream string            // Version split: "2", "1.0-1"
	Arch            string            `json:"arch,omitempty"`
	Maintainer      string            `json:"maintainer"`
	Description     string            `json:"description"`
	Section         string            `json:"section"`
	Priority        string            `json:"priority"`
	Homepage        string            `json:"homepage,omitempty"`
	License         string            `json:"license,omitempty"`
	Depends         []string          `json:"depends,omitempty"`
	Recommends      []string          `json:"recommends,omitempty"`
	Suggests        []string          `json:"suggests,omitempty"`
	Conflicts       []string          `json:"conflicts,omitempty"`
	Breaks          []string          `json:"breaks,omitempty"`
	Replaces        []string          `json:"replaces,omitempty"`
	Provides        []string          `json:"provides,omitempty"`
	Conffiles       []string          `json:"conffiles,omitempty"`
	Scripts         map[string]string `json:"scripts,omitempty"`
}

var (
	debNameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	upstreamRE    = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~-]*$`)
	upstreamNoRev = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)
	revisionRE    = regexp.MustCompile(`^[A-Za-z0-9+.~]+$`)
	epochRE       = regexp.MustCompile(`^[0-9]+$`)
	debArchRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	sectionRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9/+.-]*$`)
	maintainerRE  = regexp.MustCompile(`^[^<>\n]*[^<>\s] <[^<>\s]+@[^<>\s]+>$`)
	priorities    = []string{"required", "important", "standard", "optional", "extra"}
	scriptNames   = []string{"preinst", "postinst", "prerm", "postrm"}
)

// newDebSpec reads the deb_* fields; nil when deb_version is unset.
func newDebSpec(cfg resource.Config, buildName string) (*debSpec, error) {
	if !cfg.IsSet("deb_version") {
		for _, f := range []string{"deb_name", "deb_maintainer", "deb_description", "deb_arch", "deb_homepage", "deb_license",
			"deb_depends", "deb_recommends", "deb_suggests", "deb_conflicts", "deb_breaks", "deb_replaces", "deb_provides", "deb_conffiles", "deb_scripts"} {
			if cfg.IsSet(f) {
				return nil, cfg.Errorf(f, "has no effect without deb_version: set deb_version to build a package, or remove %s", f)
			}
		}
		return nil, nil
	}
	d := &debSpec{
		Name: buildName, Maintainer: cfg.String("deb_maintainer"), Arch: cfg.String("deb_arch"),
		Section: cfg.String("deb_section"), Priority: cfg.String("deb_priority"),
		Homepage: cfg.String("deb_homepage"), License: cfg.String("deb_license"),
	}
	if cfg.IsSet("deb_name") {
		d.Name = cfg.String("deb_name")
	}
	if !debNameRE.MatchString(d.Name) {
		field := "deb_name"
		if !cfg.IsSet("deb_name") {
			field = "name"
		}
		return nil, cfg.Errorf(field, "%q is not a Debian package name (at least two of lower-case letters, digits, '+', '-' and '.', starting with a letter or digit); set deb_name", d.Name)
	}
	var err error
	d.Version = cfg.String("deb_version")
	if d.epoch, d.upstream, err = splitVersion(d.Version); err != nil {
		return nil, cfg.Errorf("deb_version", "%v", err)
	}
	if !cfg.IsSet("deb_maintainer") {
		return nil, cfg.Errorf("deb_version", "a package needs deb_maintainer, like \"Ops Team <ops@example.org>\"")
	}
	if !maintainerRE.MatchString(d.Maintainer) {
		return nil, cfg.Errorf("deb_maintainer", "must be a name and an address in angle brackets, like \"Ops Team <ops@example.org>\"")
	}
	d.Description = buildName + ", built by pinery"
	if cfg.IsSet("deb_description") {
		d.Description = strings.TrimSpace(cfg.String("deb_description"))
		if d.Description == "" {
			return nil, cfg.Errorf("deb_description", "must not be empty")
		}
	}
	if d.Arch != "" && !debArchRE.MatchString(d.Arch) {
		return nil, cfg.Errorf("deb_arch", "%q is not a Debian architecture like \"arm64\" or \"all\"", d.Arch)
	}
	if !sectionRE.MatchString(d.Section) {
		return nil, cfg.Errorf("deb_section", "%q is not a section like \"misc\" or \"contrib/net\"", d.Section)
	}
	if !slices.Contains(priorities, d.Priority) {
		return nil, cfg.Errorf("deb_priority", "must be one of %s, not %q", strings.Join(priorities, ", "), d.Priority)
	}
	for _, f := range []struct{ name, v string }{{"deb_homepage", d.Homepage}, {"deb_license", d.License}} {
		if strings.ContainsAny(f.v, "\n\r") {
			return nil, cfg.Errorf(f.name, "must be one line")
		}
	}
	for _, r := range []struct {
		name string
		dst  *[]string
	}{{"deb_depends", &d.Depends}, {"deb_recommends", &d.Recommends}, {"deb_suggests", &d.Suggests},
		{"deb_conflicts", &d.Conflicts}, {"deb_breaks", &d.Breaks}, {"deb_replaces", &d.Replaces}, {"deb_provides", &d.Provides}} {
		for _, rel := range cfg.Strings(r.name) {
			rel = strings.TrimSpace(rel)
			if rel == "" || strings.ContainsAny(rel, ",\n\r") {
				return nil, cfg.Errorf(r.name, "%q is not one relation: give one package (with an optional version and | alternatives) per item, without commas or line breaks", rel)
			}
			*r.dst = append(*r.dst, rel)
		}
	}
	for _, c := range cfg.Strings("deb_conffiles") {
		if !path.IsAbs(c) || path.Clean(c) != c || c == "/" || strings.ContainsAny(c, "\n\r") {
			return nil, cfg.Errorf("deb_conffiles", "%q must be a clean absolute path of a file in the package, like \"/etc/hello.conf\"", c)
		}
		d.Conffiles = append(d.Conffiles, c)
	}
	if v := cfg.Values["deb_scripts"]; cfg.IsSet("deb_scripts") {
		d.Scripts = map[string]string{}
		for k, s := range v.AsValueMap() {
			if !slices.Contains(scriptNames, k) {
				return nil, cfg.Errorf("deb_scripts", "%q is not a maintainer script; use %s", k, strings.Join(scriptNames, ", "))
			}
			if !s.IsNull() {
				d.Scripts[k] = s.AsString()
			}
		}
	}
	return d, nil
}

// splitVersion checks a Debian version and splits off its epoch.
func splitVersion(v string) (epoch, rest string, err error) {
	rest = v
	if e, r, ok := strings.Cut(v, ":"); ok {
		if !epochRE.MatchString(e) {
			return "", "", fmt.Errorf("%q: the epoch before ':' must be a number", v)
		}
		epoch, rest = e, r
	}
	re := upstreamNoRev
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		if !revisionRE.MatchString(rest[i+1:]) {
			return "", "", fmt.Errorf("%q: the Debian revision after the last '-' may hold only letters, digits, '+', '.' and '~'", v)
		}
		re = upstreamRE
		if !re.MatchString(rest[:i]) {
			return "", "", fmt.Errorf("%q is not a Debian version: it must start with a digit and hold only letters, digits, '.', '+', '~' and '-'", v)
		}
		return epoch, rest, nil
	}
	if !re.MatchString(rest) {
		return "", "", fmt.Errorf("%q is not a Debian version: it must start with a digit and hold only letters, digits, '.', '+' and '~' (and '-' before a revision)", v)
	}
	return epoch, rest, nil
}

// archFor is the package's Architecture on a builder of arch.
func (d *debSpec) archFor(builder string) string {
	if d.Arch != "" {
		return d.Arch
	}
	return builder
}

// fileName is the .deb's name, as dpkg-name makes it (no epoch).
func (d *debSpec) fileName(builder string) string {
	return d.Name + "_" + d.upstream + "_" + d.archFor(builder) + ".deb"
}

// packageDeb writes the .deb of the staged tree stage to w. modes, when
// not nil, holds every entry's mode as the builder had it (the staged
// copy is private to the controller's user); owners are always root.
func (d *debSpec) packageDeb(stage string, modes map[string]fs.FileMode, builder string, w io.Writer) error {
	conf := map[string]bool{}
	for _, c := range d.Conffiles {
		conf[c] = true
	}
	var entries []debEntry
	var latest time.Time
	err := filepath.WalkDir(stage, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(stage, p)
		if rel == "." {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		if m, ok := modes[filepath.ToSlash(rel)]; ok {
			mode = m
		}
		dst := "/" + filepath.ToSlash(rel)
		c := debEntry{dst: dst, mode: mode, mtime: info.ModTime()}
		switch {
		case e.IsDir():
			c.typ, c.dst = tar.TypeDir, dst+"/"
		case e.Type()&fs.ModeSymlink != 0:
			c.typ = tar.TypeSymlink
			if c.src, err = os.Readlink(p); err != nil {
				return err
			}
		case e.Type().IsRegular():
			c.typ, c.src = tar.TypeReg, p
			if conf[dst] {
				c.conf = true
				delete(conf, dst)
			}
			if info.ModTime().After(latest) {
				latest = info.ModTime()
			}
		default:
			return fmt.Errorf("%s is neither a file, a directory nor a symbolic link", dst)
		}
		entries = append(entries, c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the staged output: %w", err)
	}
	for c := range conf {
		return fmt.Errorf("deb_conffiles: %s is not a regular file in DESTDIR", c)
	}
	// The newest file's time, not now: the same staged tree always makes
	// the same bytes.
	if latest.IsZero() {
		latest = time.Unix(0, 0)
	}
	if d.License != "" {
		copyright := "/usr/share/doc/" + d.Name + "/copyright"
		if _, err := os.Lstat(filepath.Join(stage, filepath.FromSlash(copyright))); os.IsNotExist(err) {
			text := "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: " + d.Name + "\n\nFiles: *\nLicense: " + d.License + "\n"
			entries = append(entries, debEntry{dst: copyright, typ: tar.TypeReg, mode: 0o644, data: []byte(text), mtime: latest})
		}
	}
	scripts := map[string]string{}
	for name, text := range d.Scripts {
		if !strings.HasPrefix(text, "#!") {
			text = "#!/bin/sh\nset -e\n" + text
		}
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		scripts[name] = text
	}
	if err := writeDeb(w, debPackage{spec: d, arch: d.archFor(builder), mtime: latest, scripts: scripts}, entries); err != nil {
		return fmt.Errorf("packaging %s: %w", d.Name, err)
	}
	return nil
}
