package pythonvenv

import (
	"errors"
	"fmt"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// distAwk prints the Name and Version headers of each metadata file given,
// marked venv or sys by where the file is, and stops reading each file
// there: no Python starts for it, which takes a second or more on a small
// board under pip.
const distAwk = `FNR == 1 { n = ""; v = "" }
{ sub(/\r$/, "") }
/^$/ { nextfile }
tolower(substr($0, 1, 5)) == "name:" { n = substr($0, 6); gsub(/^[ \t]+|[ \t]+$/, "", n) }
tolower(substr($0, 1, 8)) == "version:" { v = substr($0, 9); gsub(/^[ \t]+|[ \t]+$/, "", v) }
n != "" && v != "" { print "dist=" (index(FILENAME, ENVIRON["VENV"]) == 1 ? "venv" : "sys") "\t" n "\t" v; nextfile }`

// sitePackages lists the system's site directories as the venv's python
// sees them; only asked when the venv includes them.
const sitePackages = `import site; print("\n".join(site.getsitepackages()))`

// Probe prints, without changing anything:
//
//	python=VERSION        the interpreter's version; empty when it does not run
//	type=none|empty|venv|other
//	exe=0|1               the venv's bin/python is executable
//	cfg=LINE              pyvenv.cfg, line by line
//	owner=UID:GID:USER:GROUP
//	dist=venv|sys<TAB>NAME<TAB>VERSION   installed distributions, the venv's first
//
// With state = "absent", only type.
func (v *Venv) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "set +f\np=%s\n", shellescape.Quote(v.path))
	if !v.absent {
		fmt.Fprintf(&b, "py=%s\n", shellescape.Quote(v.python))
		b.WriteString(`v=$("$py" --version 2>/dev/null) || v=
printf 'python=%s\n' "${v#Python }"
`)
	}
	b.WriteString(`if [ -L "$p" ] || { [ -e "$p" ] && [ ! -d "$p" ]; }; then echo type=other; exit 0; fi
if [ ! -e "$p" ]; then echo type=none; exit 0; fi
if [ ! -f "$p/pyvenv.cfg" ]; then
  for f in "$p"/* "$p"/.[!.]* "$p"/..?*; do
    if [ -e "$f" ] || [ -L "$f" ]; then echo type=other; exit 0; fi
  done
  echo type=empty; exit 0
fi
echo type=venv
`)
	if v.absent {
		return b.String()
	}
	b.WriteString(`if [ -x "$p/bin/python" ]; then echo exe=1; else echo exe=0; fi
sys=0
while IFS= read -r l || [ -n "$l" ]; do
  printf 'cfg=%s\n' "$l"
  case $l in include-system-site-packages*=*[Tt][Rr][Uu][Ee]*) sys=1 ;; esac
done <"$p/pyvenv.cfg"
`)
	if v.owner != "" || v.group != "" {
		b.WriteString("stat -c 'owner=%u:%g:%U:%G' -- \"$p\" || exit 1\n")
	}
	fmt.Fprintf(&b, `set --
for d in "$p"/lib/python*/site-packages; do
  for f in "$d"/*.dist-info/METADATA "$d"/*.egg-info/PKG-INFO "$d"/*.egg-info; do [ -f "$f" ] && set -- "$@" "$f"; done
done
if [ $sys = 1 ] && [ -x "$p/bin/python" ]; then
  IFS='
'
  for d in $("$p/bin/python" -c %s 2>/dev/null); do
    case $d in "$p"/*) continue ;; esac
    for f in "$d"/*.dist-info/METADATA "$d"/*.egg-info/PKG-INFO "$d"/*.egg-info; do [ -f "$f" ] && set -- "$@" "$f"; done
  done
  unset IFS
fi
[ $# -eq 0 ] || VENV="$p/" awk %s "$@"
`, shellescape.Quote(sitePackages), shellescape.Quote(distAwk))
	return b.String()
}

type dist struct {
	name, version string
	sys           bool // seen through system_site_packages
}

type probe struct {
	python string // the interpreter's version; "" when it does not run
	typ    string // none, empty, venv, other
	exe    bool
	cfg    map[string]string
	owner  []string // uid, gid, user, group; nil when not asked
	dists  map[string]dist
	order  []string // keys of dists, as found
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{cfg: map[string]string{}, dists: map[string]dist{}}
	for _, line := range strings.Split(strings.TrimSuffix(string(out.Stdout), "\n"), "\n") {
		if line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "python":
			p.python = val
		case "type":
			switch val {
			case "none", "empty", "venv", "other":
				p.typ = val
			default:
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
		case "exe":
			p.exe = val == "1"
		case "cfg":
			// pyvenv.cfg is "key = value", read as Python's site.py does.
			if ck, cv, ok := strings.Cut(val, "="); ok {
				p.cfg[strings.ToLower(strings.TrimSpace(ck))] = strings.TrimSpace(cv)
			}
		case "owner":
			f := strings.Split(val, ":")
			if len(f) != 4 {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.owner = f
		case "dist":
			f := strings.Split(val, "\t")
			if len(f) != 3 || (f[0] != "venv" && f[0] != "sys") || f[1] == "" {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			key := normalize(f[1])
			if _, dup := p.dists[key]; dup {
				continue // shadowed: the venv's copy, or the first on the path, is the one imported
			}
			p.dists[key] = dist{name: f[1], version: f[2], sys: f[0] == "sys"}
			p.order = append(p.order, key)
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	if p.typ == "" {
		return nil, errors.New("malformed probe output: truncated")
	}
	return p, nil
}

// cfgVersion is the Python version that made the venv: venv writes
// "version", virtualenv "version_info" (3.11.2.final.0).
func (p *probe) cfgVersion() string {
	if v := p.cfg["version"]; v != "" {
		return v
	}
	return p.cfg["version_info"]
}

// minor is a version's major.minor ("3.11" of "3.11.2"), "" if it has none.
func minor(v string) string {
	f := strings.SplitN(v, ".", 3)
	if len(f) < 2 || f[0] == "" || f[1] == "" || strings.Trim(f[0]+f[1], "0123456789") != "" {
		return ""
	}
	return f[0] + "." + f[1]
}
