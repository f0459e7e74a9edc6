package pythonvenv

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// Apply makes, rebuilds, changes or removes the venv as the plan says.
func (v *Venv) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("python_venv %q: the plan carries no python_venv changes", v.path)
	}
	var stdin io.Reader
	if len(priv.Install) > 0 {
		stdin = strings.NewReader(v.pipInput(priv.Install))
	}
	res, err := h.Run(ctx, v.applyScript(priv), stdin)
	if err != nil {
		return fmt.Errorf("python_venv %q: %w", v.path, err)
	}
	return v.red.Error(v.explain(res))
}

// pipInput is the requirements file pip reads on its standard input: the
// index options first, so that credentials in a URL never appear on a
// command line, where every user of the host can read them.
func (v *Venv) pipInput(reqs []string) string {
	var b strings.Builder
	if v.indexURL != "" {
		b.WriteString("--index-url " + v.indexURL + "\n")
	} else {
		b.WriteString("--no-index\n")
	}
	if v.findLinks != "" {
		b.WriteString("--find-links " + v.findLinks + "\n")
	}
	// pip ignores a plain-http source unless its host is trusted; naming
	// the URL in the resource is that trust.
	seen := map[string]bool{}
	for _, s := range []string{v.indexURL, v.findLinks} {
		if u, err := url.Parse(s); err == nil && u.Scheme == "http" && !seen[u.Host] {
			seen[u.Host] = true
			b.WriteString("--trusted-host " + u.Host + "\n")
		}
	}
	for _, r := range reqs {
		b.WriteString(r + "\n")
	}
	return b.String()
}

// pip runs the venv's pip with no configuration but its arguments.
func pip(python, args string) string {
	return "PIP_CONFIG_FILE=/dev/null " + python + " -m pip --isolated " + args +
		" --disable-pip-version-check --no-input --no-color"
}

// relocate rewrites the temporary directory's path to the final one in
// the venv's scripts and pyvenv.cfg (as dh-virtualenv does), each file
// atomically: a venv records its absolute path there and cannot be moved
// otherwise.
const relocate = `import os, sys
old, new = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
bindir = os.path.join(sys.argv[1], "bin")
for f in [os.path.join(sys.argv[1], "pyvenv.cfg")] + [os.path.join(bindir, n) for n in os.listdir(bindir)]:
    if os.path.islink(f) or not os.path.isfile(f):
        continue
    with open(f, "rb") as fh:
        data = fh.read()
    if old not in data or b"\0" in data:
        continue
    mode = os.stat(f).st_mode & 0o7777
    tmp = f + ".pinery-tmp"
    with open(tmp, "wb") as fh:
        fh.write(data.replace(old, new))
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, f)
`

// setSystemSite rewrites include-system-site-packages in pyvenv.cfg,
// atomically, keeping the file's mode and owner.
const setSystemSite = `f="$p/pyvenv.cfg"
n=$(mktemp -- "$p/.pyvenv.cfg.XXXXXXXXXX") || exit 1
if awk -v v="$ssp" 'tolower($0) ~ /^[ \t]*include-system-site-packages[ \t]*=/ { print "include-system-site-packages = " v; s = 1; next } { print } END { if (!s) print "include-system-site-packages = " v }' "$f" >"$n" &&
  chmod --reference="$f" -- "$n" && chown --reference="$f" -- "$n" && sync -- "$n" && mv -f -- "$n" "$f"; then :
else rm -f -- "$n"; exit 1
fi
`

// applyScript is one script per apply. Exit statuses name what failed
// (see explain). Only pip reads the script's standard input, the
// requirements; everything else reads /dev/null.
func (v *Venv) applyScript(priv *Private) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nd=%s\npy=%s\n", shellescape.Quote(v.path), shellescape.Quote(v.parent), shellescape.Quote(v.python))
	b.WriteString("exec 3<&0 </dev/null\ncd / || exit 1\n")
	if priv.Delete {
		b.WriteString(`[ -f "$p/pyvenv.cfg" ] && [ ! -L "$p" ] || exit 5
o=$(mktemp -u -- "$d/.pinery-venv-old-XXXXXXXXXX") || exit 1
mv -T -- "$p" "$o" || exit 1
sync -- "$d" 2>/dev/null || :
rm -rf --one-file-system -- "$o"
`)
		return b.String()
	}
	if !priv.Create && !priv.Rebuild {
		b.WriteString("[ -f \"$p/pyvenv.cfg\" ] && [ ! -L \"$p\" ] || exit 5\n")
		if priv.SystemSite != "" {
			b.WriteString("ssp=" + priv.SystemSite + "\n" + setSystemSite)
		}
		v.packageSteps(&b, `"$p/bin/python"`, priv)
		v.chown(&b, `"$p"`, priv)
		return b.String()
	}

	switch {
	case priv.Rebuild:
		b.WriteString("[ -f \"$p/pyvenv.cfg\" ] && [ ! -L \"$p\" ] || exit 5\n")
	case priv.Replace:
		b.WriteString("[ -d \"$p\" ] && [ ! -L \"$p\" ] && [ -z \"$(ls -A -- \"$p\")\" ] || exit 5\n")
	default:
		b.WriteString("if [ -e \"$p\" ] || [ -L \"$p\" ]; then exit 5; fi\n")
	}
	ssp := ""
	if v.systemSite {
		ssp = " --system-site-packages"
	}
	fmt.Fprintf(&b, `command -v "$py" >/dev/null 2>&1 || exit 6
[ -d "$d" ] || exit 3
"$py" -c 'import ensurepip' >/dev/null 2>&1 || exit 4
t=$(mktemp -d -- "$d/.pinery-venv-XXXXXXXXXX") || exit 1
trap 'rm -rf -- "$t"' EXIT
trap 'exit 1' HUP INT TERM
"$py" -m venv%s -- "$t" >&2 || exit 10
`, ssp)
	v.packageSteps(&b, `"$t/bin/python"`, priv)
	fmt.Fprintf(&b, "\"$t/bin/python\" -I -c %s \"$t\" \"$p\" || exit 1\n", shellescape.Quote(relocate))
	v.chown(&b, `"$t"`, priv)
	b.WriteString("chmod 0755 \"$t\" || exit 1\nsync -f -- \"$t\" 2>/dev/null || sync\n")
	if priv.Rebuild {
		b.WriteString(`o=$(mktemp -u -- "$d/.pinery-venv-old-XXXXXXXXXX") || exit 1
mv -T -- "$p" "$o" || exit 1
mv -T -- "$t" "$p" || { mv -T -- "$o" "$p"; exit 1; }
trap - EXIT
sync -- "$d" 2>/dev/null || :
rm -rf --one-file-system -- "$o"
`)
		return b.String()
	}
	if priv.Replace {
		b.WriteString("rmdir -- \"$p\" || exit 5\n")
	}
	b.WriteString("mv -T -- \"$t\" \"$p\" || exit 1\ntrap - EXIT\nsync -- \"$d\" 2>/dev/null || :\n")
	return b.String()
}

// packageSteps installs, then removes (so a failed install removes
// nothing), then checks, with the venv's python.
func (v *Venv) packageSteps(b *strings.Builder, python string, priv *Private) {
	if len(priv.Install) > 0 {
		args := "install -q --no-cache-dir"
		if v.onlyBinary {
			args += " --only-binary=:all:"
		}
		if v.exact {
			args += " --no-deps"
		}
		b.WriteString(pip(python, args+" -r /dev/stdin") + " <&3 >&2 || exit 7\n")
	}
	if len(priv.Remove) > 0 {
		names := make([]string, len(priv.Remove))
		for i, n := range priv.Remove {
			names[i] = shellescape.Quote(n)
		}
		b.WriteString(pip(python, "uninstall -y -q") + " -- " + strings.Join(names, " ") + " >&2 || exit 9\n")
	}
	if v.exact && (len(priv.Install) > 0 || len(priv.Remove) > 0) {
		b.WriteString(pip(python, "check") + " >&2 || exit 8\n")
	}
}

// chown gives everything in the venv to owner and group: symbolic links
// themselves (-h), never what they point to (bin/python is a link to the
// system's interpreter).
func (v *Venv) chown(b *strings.Builder, dir string, priv *Private) {
	if !priv.Chown || (v.owner == "" && v.group == "") {
		return
	}
	spec := v.owner // "user:" would also set the user's login group
	if v.group != "" {
		spec += ":" + v.group
	}
	fmt.Fprintf(b, "chown -R -h -- %s %s || exit 11\n", shellescape.Quote(spec), dir)
}

// explain turns the script's exit status into an error.
func (v *Venv) explain(res resource.Result) error {
	out := tail(res.Stderr)
	switch res.ExitCode {
	case 0:
		return nil
	case 3:
		return fmt.Errorf("cannot create the venv %q: its directory %q does not exist; declare a directory resource for it (and depend on it)", v.path, v.parent)
	case 4:
		return fmt.Errorf("cannot create the venv %q: %s has no ensurepip module, which python -m venv needs to put pip in the venv; on Debian and Ubuntu declare a package resource with name = \"python3-venv\" and depend on it", v.path, v.python)
	case 5:
		return fmt.Errorf("%q has changed since the plan; plan again", v.path)
	case 6:
		return fmt.Errorf("cannot create the venv %q: %s is not installed on the host; declare a package resource for it and depend on it", v.path, v.python)
	case 7:
		msg := fmt.Sprintf("pip install into %q failed: %s", v.path, out)
		if v.onlyBinary && strings.Contains(out, "No matching distribution found") {
			msg += " (only_binary = true: pip looked for wheels only, so a release published as source alone is not found)"
		}
		return fmt.Errorf("%s", msg)
	case 8:
		return fmt.Errorf("the packages of %q are incomplete (pip check): %s; with exact = true pip installs no dependencies itself: list every package the venv needs (pip-compile's output does)", v.path, out)
	case 9:
		return fmt.Errorf("pip uninstall in %q failed: %s", v.path, out)
	case 10:
		return fmt.Errorf("python -m venv failed for %q: %s", v.path, out)
	case 11:
		return fmt.Errorf("cannot give %q to its owner and group (chown): %s", v.path, out)
	}
	if out == "" {
		return fmt.Errorf("python_venv %q: exit status %d", v.path, res.ExitCode)
	}
	return fmt.Errorf("python_venv %q: exit status %d: %s", v.path, res.ExitCode, out)
}

// tail is the end of a command's error output, trimmed: pip's reason is
// in its last lines.
func tail(b []byte) string {
	const max = 2000
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}
