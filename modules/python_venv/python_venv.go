// Package pythonvenv is the `python_venv` resource type: a Python virtual
// environment holding pinned packages installed from a given index or
// wheelhouse, never from PyPI behind the user's back.
package pythonvenv

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func init() {
	resource.Register(&resource.Type{
		Name:    "python_venv",
		Summary: "A Python virtualenv with pinned packages from a given index or wheelhouse.",
		Doc:     doc,
		Example: example,
		Fields: []resource.Field{
			{Name: "path", Type: cty.String, Required: true,
				Doc: "Absolute path of the venv on the target. Its parent directory must exist."},
			{Name: "python", Type: cty.String, Default: cty.StringVal("python3"),
				Doc: "The interpreter that makes the venv: a command name looked up in `PATH` (`python3`, `python3.11`) or an absolute path. A venv made by another major.minor version is rebuilt."},
			{Name: "packages", Type: cty.List(cty.String),
				Doc: "Requirements, one per element: `\"name==version\"` (a pin), `\"name[extra]==version\"`, or a bare `\"name\"` (present at any version; pip picks the newest the index has). Ranges (`>=`, `~=`, `<`, `!=`, `==1.*`), environment markers and URLs are refused."},
			{Name: "requirements", Type: cty.String,
				Doc: "The text of a requirements file (`file(\"requirements.txt\")`), with the same requirements as `packages`, one per line: `#` comments, `\\` continuations and `--hash=sha256:…` options (pip-compile's `--generate-hashes` output) are understood; other pip options are refused. Used together with `packages`, the two are merged; a package in both is an error."},
			{Name: "index_url", Type: cty.String,
				Doc: "A PEP 503 simple index (`https://pypi.example.org/simple/`). It replaces PyPI: pip looks nowhere else but `find_links`. May hold credentials (`https://user:token@host/simple/`), which are never shown."},
			{Name: "find_links", Type: cty.String,
				Doc: "A wheelhouse: a URL of an HTML page linking to wheels, or an absolute directory of wheels on the target. Without `index_url`, pip uses only this (`--no-index`)."},
			{Name: "only_binary", Type: cty.Bool, Default: cty.True,
				Doc: "Install wheels only (`--only-binary=:all:`): a package with no wheel for the target fails with pip's reason instead of being compiled on the board. Set to false to let pip build from source (the build runs as root)."},
			{Name: "system_site_packages", Type: cty.Bool, Default: cty.False,
				Doc: "Let the venv see the system's packages (`--system-site-packages`), such as Debian's `python3-*` packages. Changed on an existing venv by editing its `pyvenv.cfg`."},
			{Name: "exact", Type: cty.Bool, Default: cty.False,
				Doc: "The requirements are the venv's complete contents, like a lock file: packages not listed are uninstalled (except pip, setuptools and wheel), pip installs no dependencies of its own (`--no-deps`), and `pip check` must pass after every change."},
			{Name: "owner", Type: cty.String,
				Doc: "User (a name or a numeric uid) that owns everything in the venv, with `chown -R`. Unset: root for a new venv, left as it is on an existing one."},
			{Name: "group", Type: cty.String,
				Doc: "Group (a name or a numeric gid) that owns everything in the venv. Unset: root for a new venv, left as it is."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`. With `\"absent\"` the venv is removed; the package fields are then ignored."},
		},
		New: New,
	})
}

const example = `package "python3_venv" {
  name = "python3-venv"
}

python_venv "synapse" {
  path         = "/opt/synapse/venv"
  requirements = file("synapse-requirements.txt") # pip-compile output, pinned and hashed
  index_url    = "https://wheels.example.org/simple/"
  exact        = true
  depends_on   = [package.python3_venv]
}

python_venv "tools" {
  path       = "/opt/tools"
  packages   = ["six==1.16.0", "attrs==23.2.0"]
  find_links = "http://10.0.0.1:8080/wheels/"
}`

const doc = `Manages a Python virtual environment (` + "`python -m venv`" + `) at ` + "`path`" + ` and the packages
installed in it with pip, from the index and wheelhouse the resource names and nowhere else.
It is the place a service's Python code runs from: the service watches it to restart when
its packages change.

**Where pip looks.** pip uses ` + "`index_url`" + ` (which replaces PyPI) and ` + "`find_links`" + `, and
without ` + "`index_url`" + ` nothing but ` + "`find_links`" + ` (` + "`--no-index`" + `). One of them is required
once there are packages: boards often have no internet, and an install must not depend
on what a board can reach. pip's configuration files and ` + "`PIP_*`" + ` environment variables
are ignored (` + "`--isolated`" + `), so nothing on the host adds another index. Plain ` + "`http://`" + `
URLs are allowed (pip is told to trust their host); use https, or ` + "`--hash`" + ` pins in
` + "`requirements`" + `, when the network between the index and the boards is not trusted.
Credentials in a URL are never shown in the plan, logs or errors, and never put on a
command line (pip reads the URLs on its standard input); a URL from a sensitive variable
is hidden whole, and so are requirements from one (the plan then shows a bare
` + "`package`" + ` change).

**Versions.** A pin ` + "`name==1.2.3`" + ` is checked by PEP 440 equality (` + "`1.0`" + ` is ` + "`1.0.0`" + `;
a pin without a ` + "`+local`" + ` label matches an installed ` + "`1.0+deb1`" + `, as in pip). A bare name
is satisfied by any installed version; only pins make every board of a fleet alike.
Ranges are refused rather than half-checked. Names match whatever their spelling
(` + "`Foo_Bar`" + ` is ` + "`foo-bar`" + `, PEP 503). The plan shows each package that changes,
` + "`package six: 1.16.0 → 1.17.0`" + `, and one ` + "`pip install`" + ` applies all of them. Packages
installed but not listed are left alone, unless ` + "`exact = true`" + ` (see below). Extras
(` + "`name[extra]`" + `) are passed to pip, but only the named package's version is checked:
list the extra's packages too to have them checked (a lock file does). Without
` + "`exact`" + `, pip installs missing dependencies from the same index.

**Exact.** With ` + "`exact = true`" + ` the list is the whole venv, as pip-sync and ` + "`uv pip sync`" + `
treat a lock file: what is not listed is uninstalled (pip, setuptools and wheel stay),
pip adds no dependency of its own, and ` + "`pip check`" + ` runs after each change; a dependency
missing from the list fails the apply, naming it. A new venv is then not put in place; in
an existing one the change stays made, and the next plan does not see the gap: add what
the error named.
Packages seen through ` + "`system_site_packages`" + ` are never removed.

**Creation.** A new venv is made in a temporary directory beside ` + "`path`" + ` (` + "`python -m venv`" + `,
which needs ensurepip: on Debian and Ubuntu the ` + "`python3-venv`" + ` package, which the apply
asks for by name when it is missing), its packages are installed, the absolute paths in
its scripts (` + "`bin/pip`" + `, console scripts, ` + "`activate`" + `) are rewritten to ` + "`path`" + `, its owner
set, and it is renamed into place: a failed or interrupted creation leaves nothing at
` + "`path`" + `. An empty directory at ` + "`path`" + ` is replaced; anything else that is not a venv (a
directory without ` + "`pyvenv.cfg`" + `) is an error. pip is the one the interpreter ships
(Debian's, with no internet needed); list ` + "`pip==…`" + ` among the packages to have another
from the index.

**Rebuilds.** A venv made by another Python major.minor version (the OS upgraded
` + "`python3`" + ` from 3.11 to 3.12, or ` + "`python`" + ` names another interpreter), or whose
` + "`bin/python`" + ` no longer runs, is rebuilt the same way and swapped in (two renames: ` + "`path`" + `
is missing for an instant). A rebuilt venv holds the listed packages and their
dependencies only. A patch release (3.11.2 to 3.11.4) needs no rebuild. When the
interpreter is not installed yet at plan time (a package resource of the same run
installs it), the plan says the venv will be rebuilt with it.

**Changes to an existing venv** are pip's own work, file by file, as any ` + "`pip install`" + `;
` + "`system_site_packages`" + ` is switched by rewriting ` + "`pyvenv.cfg`" + ` atomically, and ownership by
` + "`chown -R`" + ` (symbolic links themselves, never their targets).

**What it does not do.** It does not install Python or ` + "`python3-venv`" + `: declare
` + "`package`" + ` resources and ` + "`depends_on`" + ` them. It does not upgrade bare-named packages
that are installed (pin them), build wheels, or manage pip's cache (pip runs with
` + "`--no-cache-dir`" + `, sparing a small board's disk). pip runs as root; ` + "`owner`" + ` and ` + "`group`" + `
are applied afterwards.

**Failures.** A package pip cannot find or install fails the apply with pip's own
message (with ` + "`only_binary`" + `, noting that source-only releases are not used); so does a
missing interpreter or ensurepip. The probe reads ` + "`pyvenv.cfg`" + ` and the installed
packages' metadata with the shell and one ` + "`awk`" + ` (not pip, which takes a second or more to
start on a small board), and runs the interpreter once for its version (and, with
` + "`system_site_packages`" + `, the venv's python once for the system's site directories).

With ` + "`state = \"absent\"`" + ` a venv at ` + "`path`" + ` is renamed away and removed. A directory at
` + "`path`" + ` that is not a venv is an error (an empty one is left alone).`

// Venv is one configured virtual environment.
type Venv struct {
	path, parent, python string
	absent               bool
	reqs                 []requirement
	indexURL, findLinks  string
	onlyBinary, exact    bool
	systemSite           bool
	owner, group         string
	red                  redactor
}

var _ resource.Resource = (*Venv)(nil)

var ownerRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)

// New validates a python_venv block.
func New(cfg resource.Config) (resource.Resource, error) {
	v := &Venv{
		python:     cfg.String("python"),
		onlyBinary: cfg.Bool("only_binary"),
		systemSite: cfg.Bool("system_site_packages"),
		exact:      cfg.Bool("exact"),
		owner:      cfg.String("owner"),
		group:      cfg.String("group"),
	}
	p := cfg.String("path")
	switch {
	case p == "":
		return nil, cfg.Errorf("path", "must not be empty")
	case strings.ContainsAny(p, "\x00\n\r"):
		return nil, cfg.Errorf("path", "must not contain a NUL byte or a line break")
	case !strings.HasPrefix(p, "/"):
		return nil, cfg.Errorf("path", "must be an absolute path (starting with /), not %q", p)
	case p == "/":
		return nil, cfg.Errorf("path", "must name a directory, not /")
	case filepath.Clean(p) != p:
		return nil, cfg.Errorf("path", "must be a clean path: write %q, not %q", filepath.Clean(p), p)
	}
	v.path, v.parent = p, filepath.Dir(p)

	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		v.absent = true
		return v, nil
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}

	switch {
	case v.python == "":
		return nil, cfg.Errorf("python", "must not be empty; leave it out for python3")
	case strings.ContainsAny(v.python, "\x00\n\r \t"):
		return nil, cfg.Errorf("python", "must be a command name or an absolute path, without spaces or line breaks")
	case strings.Contains(v.python, "/") && !strings.HasPrefix(v.python, "/"):
		return nil, cfg.Errorf("python", "must be a command name (python3) or an absolute path, not %q", v.python)
	case strings.HasPrefix(v.python, "-"):
		return nil, cfg.Errorf("python", "must not start with -")
	}
	for _, f := range []struct{ name, val string }{{"owner", v.owner}, {"group", v.group}} {
		if cfg.IsSet(f.name) && !ownerRE.MatchString(f.val) {
			return nil, cfg.Errorf(f.name, "%q is not a user or group name, nor a number", f.val)
		}
	}

	if err := v.readRequirements(cfg); err != nil {
		return nil, err
	}

	v.indexURL, v.findLinks = cfg.String("index_url"), cfg.String("find_links")
	v.red = newRedactor([]string{v.indexURL, v.findLinks}, []bool{cfg.IsSensitive("index_url"), cfg.IsSensitive("find_links")})
	for _, r := range v.reqs {
		if r.sensitive {
			// As written, normalized, and as wheel file names spell it.
			v.red.hide(r.line(), r.name, r.key, strings.ReplaceAll(r.key, "-", "_"))
		}
	}
	if cfg.IsSet("index_url") {
		if err := checkURL(v.indexURL, false); err != nil {
			return nil, cfg.Errorf("index_url", "%s", v.red.String(err.Error()))
		}
	}
	if cfg.IsSet("find_links") {
		if err := checkURL(v.findLinks, true); err != nil {
			return nil, cfg.Errorf("find_links", "%s", v.red.String(err.Error()))
		}
	}
	if len(v.reqs) > 0 && v.indexURL == "" && v.findLinks == "" {
		field := "packages"
		if !cfg.IsSet("packages") {
			field = "requirements"
		}
		return nil, cfg.Errorf(field, "need index_url or find_links to install from (for PyPI itself, write index_url = \"https://pypi.org/simple/\")")
	}
	return v, nil
}

// readRequirements merges packages and requirements, refusing duplicates
// and a half-hashed set (pip's hash-checking mode wants every one hashed).
//
// A sensitive field's requirements are hidden in the plan and in errors,
// even in New's: its errors then say only which field is wrong.
func (v *Venv) readRequirements(cfg resource.Config) error {
	var fields []string // the field each requirement came from
	errorf := func(field, format string, args ...any) error {
		if cfg.IsSensitive(field) {
			return cfg.Errorf(field, "is not valid (its value is sensitive, so the reason is not shown)")
		}
		return cfg.Errorf(field, format, args...)
	}
	seen := map[string]string{}
	add := func(field string, r requirement) error {
		if prev, dup := seen[r.key]; dup {
			return errorf(field, "%s is listed twice (as %s too); list each package once", r.line(), prev)
		}
		seen[r.key] = r.line()
		r.sensitive = cfg.IsSensitive(field)
		v.reqs, fields = append(v.reqs, r), append(fields, field)
		return nil
	}
	for i, s := range cfg.Strings("packages") {
		r, err := parseSpec(s)
		if err != nil {
			return errorf("packages", "element %d: %v", i, err)
		}
		if err := add("packages", r); err != nil {
			return err
		}
	}
	if cfg.IsSet("requirements") {
		rs, err := parseRequirements(cfg.String("requirements"))
		if err != nil {
			return errorf("requirements", "%v", err)
		}
		for _, r := range rs {
			if err := add("requirements", r); err != nil {
				return err
			}
		}
	}
	hashed := false
	for _, r := range v.reqs {
		hashed = hashed || len(r.hashes) > 0
	}
	for i, r := range v.reqs {
		if hashed && (len(r.hashes) == 0 || r.version == "") {
			return errorf(fields[i], "%s has no pin or no --hash, but other requirements have hashes: pip then checks them all, so pin and hash every one", r.line())
		}
	}
	return nil
}

// checkURL accepts an http(s) or file URL, or (for find_links) an
// absolute directory on the target.
func checkURL(s string, dirOK bool) error {
	if strings.ContainsAny(s, "\x00\n\r \t") {
		return fmt.Errorf("must not contain spaces or line breaks")
	}
	if dirOK && strings.HasPrefix(s, "/") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL: %v", err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", s)
		}
	case "file":
	default:
		if dirOK {
			return fmt.Errorf("must be an http(s) or file URL, or an absolute directory on the target, not %q", s)
		}
		return fmt.Errorf("must be an http(s) or file URL, not %q", s)
	}
	return nil
}
