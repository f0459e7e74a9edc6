// Package sysctl is the `sysctl` resource type: one kernel parameter, its
// running value and its value at boot.
package sysctl

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// confDir is where persisted values go; systemd-sysctl reads it at boot.
const confDir = "/etc/sysctl.d"

func init() {
	resource.Register(&resource.Type{
		Name:    "sysctl",
		Summary: "A kernel parameter (sysctl): its running value and its value at boot.",
		Doc: `Manages one kernel parameter: its running value (` + "`sysctl -w`" + `) and, so that it
survives a reboot, a file of its own, ` + "`/etc/sysctl.d/60-pinery-NAME.conf`" + `, which
systemd-sysctl reads at boot. The plan shows both values as they are on the host.

The probe reads the running value from ` + "`/proc/sys`" + ` and the persisted file; values are
compared with runs of blanks as one space, so ` + "`\"32768 60999\"`" + ` matches what the kernel
shows, tab-separated. After setting a value, the apply reads it back and fails if
the kernel shows something else (a value it rounds or clamps): write it as the kernel shows
it. The persisted file is written atomically (temporary file, then rename).

At boot the files of all sysctl.d directories are applied in the order of their names, and
the last setting of a key wins. The plan fails when a file read after pinery's (such as
` + "`99-sysctl.conf`" + `, which is ` + "`/etc/sysctl.conf`" + ` on Debian) sets the same key to another value,
since the persisted value would silently not hold; remove the setting there. Glob patterns
in such files are not followed.

With ` + "`persist = false`" + ` the file is removed if pinery wrote it before; with
` + "`apply = false`" + ` the running value is left alone (it takes effect at the next boot).

**Containers.** In a container (systemd-nspawn, LXC, Docker) most of ` + "`/proc/sys`" + ` is
read-only: the kernel is the machine's. Keys of the container's own network namespace
(` + "`net.core.somaxconn`, `net.ipv4.tcp_*`" + `) may be writable when it has one; some of them
(` + "`net.ipv4.ip_forward`" + `) also need ` + "`CAP_NET_ADMIN`" + `. Setting a key the host does not let
root write fails the apply with the key and the reason; set ` + "`apply = false`" + ` to only persist
it. (systemd-sysctl does not run at boot in a container whose ` + "`/proc/sys`" + ` is read-only.)`,
		Example: `sysctl "somaxconn" {
  name  = "net.core.somaxconn"
  value = 4096
}

sysctl "port_range" {
  name  = "net.ipv4.ip_local_port_range"
  value = "10240 65000"
}

sysctl "swappiness" {
  name  = "vm.swappiness"
  value = 10
  apply = false # read-only here (a container): persist it for the real host's next boot
}`,
		Fields: []resource.Field{
			{Name: "name", Type: cty.String, Required: true,
				Doc: "The parameter, dotted as `sysctl` shows it: `\"net.ipv4.ip_forward\"`. An interface name with a dot is written with a slash, as `sysctl` does: `\"net.ipv4.conf.eth0/100.forwarding\"`. The path form `\"net/ipv4/ip_forward\"` is accepted too."},
			{Name: "value", Type: cty.String, Required: true,
				Doc: "The value, as `sysctl -w` takes it; a number is fine (`value = 1`). Several values separated by blanks: `\"32768 60999\"`."},
			{Name: "persist", Type: cty.Bool, Default: cty.True,
				Doc: "Write the value to `/etc/sysctl.d/60-pinery-NAME.conf` so that it is set at boot. When false, that file is removed if it exists."},
			{Name: "apply", Type: cty.Bool, Default: cty.True,
				Doc: "Set the running value now, with `sysctl -w`. When false, only the persisted value is managed."},
		},
		New: New,
	})
}

// Sysctl is one configured kernel parameter.
type Sysctl struct {
	name    string // dotted: net.ipv4.conf.eth0/100.forwarding
	proc    string // its file: /proc/sys/net/ipv4/conf/eth0.100/forwarding
	value   string
	persist bool
	apply   bool
	conf    string // the persisted file's path
}

var _ resource.Resource = (*Sysctl)(nil)

// New validates a sysctl block.
func New(cfg resource.Config) (resource.Resource, error) {
	s := &Sysctl{persist: cfg.Bool("persist"), apply: cfg.Bool("apply")}
	name, err := checkName(cfg.String("name"))
	if err != nil {
		return nil, cfg.Errorf("name", "%v", err)
	}
	s.name, s.proc = name, "/proc/sys/"+swap(name)
	s.conf = confDir + "/60-pinery-" + strings.ReplaceAll(name, "/", "_") + ".conf"
	if len(s.conf)-len(confDir)-1 > 255 {
		return nil, cfg.Errorf("name", "is %d bytes long: the name of its file in %s would be longer than Linux allows", len(name), confDir)
	}

	v := cfg.String("value")
	switch {
	case strings.TrimSpace(v) == "":
		return nil, cfg.Errorf("value", "must not be empty")
	case strings.ContainsAny(v, "\n\r\x00"):
		return nil, cfg.Errorf("value", "must be one line")
	}
	s.value = v
	return s, nil
}

// checkName accepts a parameter name in dotted or path form and returns
// the dotted form.
func checkName(n string) (string, error) {
	if n == "" {
		return "", errors.New("must not be empty")
	}
	if i := strings.IndexAny(n, "./"); i >= 0 && n[i] == '/' {
		n = swap(strings.TrimPrefix(n, "/"))
	}
	for _, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/@:+", r)
		if !ok {
			return "", fmt.Errorf("must be a kernel parameter name like \"net.ipv4.ip_forward\", without %q", r)
		}
	}
	if n[0] == '-' {
		return "", fmt.Errorf("must not start with '-': %q", n)
	}
	for _, c := range strings.Split(swap(n), "/") {
		if c == "" || c == "." || c == ".." {
			return "", fmt.Errorf("must be a kernel parameter name like \"net.ipv4.ip_forward\", not %q", n)
		}
	}
	if !strings.Contains(n, ".") {
		return "", fmt.Errorf("must be a full parameter name like \"net.ipv4.ip_forward\", not the group %q", n)
	}
	return n, nil
}

// swap turns a dotted name into a path below /proc/sys and back: dots
// separate, and a slash stands for a dot within a component.
func swap(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, s)
}

// norm makes values comparable: the kernel separates several values by
// tabs, people by spaces.
func norm(v string) string { return strings.Join(strings.Fields(v), " ") }

// content is the persisted file.
func (s *Sysctl) content() string {
	return "# Written by pinery; changes here are overwritten.\n" + s.name + " = " + norm(s.value) + "\n"
}

// Probe prints the running value (with, when the key is not writable, the
// mounts below /proc/sys, to tell why), the settings of the key in other
// sysctl.d files, and the persisted file, last, in base64.
//
//	state=none|directory|multiline|unreadable
//	running=VALUE
//	writable=0
//	mount=MOUNTINFO LINE
//	conf=FILE:LINE
//	persisted=other
//	persisted=                  the rest of the output is the file
func (s *Sysctl) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "k=%s\nf=%s\n", shellescape.Quote(s.proc), shellescape.Quote(s.conf))
	if s.apply {
		// cat, not read: /proc/sys files must be read in one go (dash's
		// read takes a byte at a time and gets one).
		b.WriteString(`if [ ! -e "$k" ]; then echo state=none
elif [ -d "$k" ]; then echo state=directory
elif v=$(cat -- "$k" 2>/dev/null); then
  case $v in
  *'
'*) echo state=multiline;;
  *) printf 'running=%s\n' "$v";;
  esac
else echo state=unreadable
fi
if [ -e "$k" ] && [ ! -w "$k" ]; then
  echo writable=0
  grep -s ' /proc/sys' /proc/self/mountinfo | while IFS= read -r l; do printf 'mount=%s\n' "$l"; done
fi
`)
	}
	if s.persist {
		last := s.name[strings.LastIndexByte(s.name, '.')+1:]
		last = last[strings.LastIndexByte(last, '/')+1:]
		// The files systemd-sysctl reads, a name in /etc hiding the same
		// name further down; grep finds the candidate lines, Plan parses.
		fmt.Fprintf(&b, `own=${f##*/}
set +f
seen=/
set --
for c in %[1]s/*.conf /run/sysctl.d/*.conf /usr/local/lib/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf; do
  [ -e "$c" ] || [ -L "$c" ] || continue
  n=${c##*/}
  case $seen in */"$n"/*) continue;; esac
  seen="$seen$n/"
  if [ "$n" != "$own" ] && [ -f "$c" ]; then set -- "$@" "$c"; fi
done
if [ $# -gt 0 ]; then
  grep -s -H -F -e %[2]s -- "$@" | while IFS= read -r l; do printf 'conf=%%s\n' "$l"; done
fi
`, confDir, shellescape.Quote(last))
	}
	b.WriteString(`if [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then echo persisted=other
elif [ -f "$f" ]; then echo persisted=; base64 <"$f" || exit 1
fi
`)
	return b.String()
}

type probe struct {
	state     string // "" when running holds the value
	running   string
	readOnly  bool
	mounts    []string
	confs     []string
	persisted []byte
	have      bool // persisted holds the file
	other     bool // something else is at the file's path
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{}
	rest := out.Stdout
	haveRunning := false
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		k, v, ok := strings.Cut(string(line), "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "state":
			switch v {
			case "none", "directory", "multiline", "unreadable":
			default:
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.state = v
		case "running":
			p.running, haveRunning = v, true
		case "writable":
			p.readOnly = v == "0"
		case "mount":
			p.mounts = append(p.mounts, v)
		case "conf":
			p.confs = append(p.confs, v)
		case "persisted":
			if v == "other" {
				p.other = true
				continue
			}
			c, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(rest, []byte("\n"), nil)))
			if err != nil {
				return nil, fmt.Errorf("malformed persisted file in probe output: %v", err)
			}
			p.persisted, p.have, rest = c, true, nil
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	if haveRunning && p.state != "" {
		return nil, errors.New("malformed probe output: both a value and a state")
	}
	return p, nil
}

// Private is what Apply needs from the plan.
type Private struct {
	Set    bool   `json:"set,omitempty"`    // sysctl -w
	Write  bool   `json:"write,omitempty"`  // write the persisted file
	Remove bool   `json:"remove,omitempty"` // remove it
	Reason string `json:"reason,omitempty"` // why the key looked read-only
}

const noValue = "(none)"

// Plan compares the running and persisted values with the desired one.
func (s *Sysctl) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("sysctl %s: %w", s.name, err)
	}
	var ch []resource.Change
	priv := &Private{}
	if s.apply {
		switch p.state {
		case "none":
			// A module loaded earlier in the run may bring it.
			ch = append(ch, resource.Change{Field: "running", Old: "(no such key)", New: s.value})
			priv.Set = true
		case "directory":
			return nil, fmt.Errorf("sysctl %s is a group of parameters, not one parameter", s.name)
		case "multiline":
			return nil, fmt.Errorf("sysctl %s is a table the kernel shows, not a settable value", s.name)
		case "unreadable":
			return nil, fmt.Errorf("sysctl %s cannot be read on this host (a write-only trigger?), so pinery cannot tell whether it is set; set apply = false", s.name)
		default:
			if norm(p.running) != norm(s.value) {
				ch = append(ch, resource.Change{Field: "running", Old: p.running, New: s.value})
				priv.Set = true
			}
		}
		if p.readOnly {
			priv.Reason = readOnlyReason(s.proc, p.mounts)
		}
	}
	if p.other {
		return nil, fmt.Errorf("%s is not a regular file; remove it", s.conf)
	}
	old := noValue
	if p.have {
		if v, ok := s.assigned(string(p.persisted)); ok {
			old = v
		} else {
			old = "(no setting)"
		}
	}
	switch {
	case s.persist:
		if err := s.overridden(p.confs); err != nil {
			return nil, err
		}
		if !p.have || string(p.persisted) != s.content() {
			ch = append(ch, resource.Change{Field: "persisted", Old: old, New: norm(s.value)})
			priv.Write = true
		}
	case p.have:
		ch = append(ch, resource.Change{Field: "persisted", Old: old, New: "(removed)"})
		priv.Remove = true
	}
	if len(ch) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	return &resource.Diff{Action: resource.Update, Changes: ch, Private: priv}, nil
}

// assigned finds the value a sysctl.d file gives this key (the last
// setting wins).
func (s *Sysctl) assigned(content string) (string, bool) {
	v, ok := "", false
	for _, l := range strings.Split(content, "\n") {
		if k, val, isSet := parseSetting(l); isSet && k == s.name {
			v, ok = val, true
		}
	}
	return v, ok
}

// parseSetting reads one sysctl.d line: "key = value", "-key=value".
func parseSetting(l string) (key, value string, ok bool) {
	l = strings.TrimSpace(l)
	if l == "" || l[0] == '#' || l[0] == ';' {
		return "", "", false
	}
	k, v, found := strings.Cut(l, "=")
	if !found {
		return "", "", false
	}
	k = strings.TrimPrefix(strings.TrimSpace(k), "-")
	if strings.ContainsAny(k, "*?[") {
		return "", "", false // a glob: not followed
	}
	if i := strings.IndexAny(k, "./"); i >= 0 && k[i] == '/' {
		k = swap(strings.TrimPrefix(k, "/"))
	}
	return k, strings.TrimSpace(v), true
}

// overridden fails when a file applied after pinery's at boot gives the
// key another value.
func (s *Sysctl) overridden(confs []string) error {
	own := s.conf[len(confDir)+1:]
	type setting struct{ file, base, value string }
	var later []setting
	for _, c := range confs {
		file, l, ok := strings.Cut(c, ":")
		if !ok {
			continue
		}
		base := file[strings.LastIndexByte(file, '/')+1:]
		if k, v, ok := parseSetting(l); ok && k == s.name && base > own {
			later = append(later, setting{file, base, v})
		}
	}
	if len(later) == 0 {
		return nil
	}
	sort.SliceStable(later, func(i, j int) bool { return later[i].base < later[j].base })
	last := later[len(later)-1]
	if norm(last.value) == norm(s.value) {
		return nil
	}
	return fmt.Errorf("sysctl %s is set to %q in %s, which is read after %s at boot and wins; remove that setting (or manage that file)", s.name, last.value, last.file, s.conf)
}

// readOnlyReason says why root cannot write the key, from the mounts
// below /proc/sys: the deepest one holding it decides.
func readOnlyReason(proc string, mounts []string) string {
	best, ro := "", false
	for _, m := range mounts {
		// mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ...
		f := strings.Fields(m)
		if len(f) < 6 {
			continue
		}
		mp := f[4]
		if (proc == mp || strings.HasPrefix(proc, mp+"/")) && len(mp) >= len(best) {
			best = mp
			ro = false
			for _, o := range strings.Split(f[5], ",") {
				ro = ro || o == "ro"
			}
		}
	}
	if ro {
		return best + " is mounted read-only on this host (a container: the kernel's settings belong to the machine it runs on)"
	}
	return "the kernel does not let root write it on this host"
}

// Apply sets the running value, then writes or removes the persisted
// file: a value the kernel refuses is never persisted.
func (s *Sysctl) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("sysctl %s: the plan carries no sysctl changes", s.name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "k=%s\nf=%s\nd=%s\n", shellescape.Quote(s.proc), shellescape.Quote(s.conf), confDir)
	if priv.Set {
		fmt.Fprintf(&b, `command -v sysctl >/dev/null 2>&1 || exit 7
sysctl -q -w %s || exit 6
v=$(cat -- "$k") || exit 1
printf 'now=%%s\n' "$v"
`, shellescape.Quote(s.name+"="+s.value))
	}
	if priv.Write {
		fmt.Fprintf(&b, `if [ ! -d "$d" ]; then (umask 022; mkdir -p -- "$d") || exit 1; fi
umask 077
t=$(mktemp -- "$d/.pinery-XXXXXXXXXX") || exit 1
trap 'rm -f -- "$t"' EXIT
trap 'exit 1' HUP INT TERM
printf '%%s' %s >"$t" || exit 1
chmod 0644 "$t" || exit 1
sync -- "$t" || exit 1
mv -f -T -- "$t" "$f" || exit 1
trap - EXIT
sync -- "$d" 2>/dev/null || :
`, shellescape.Quote(s.content()))
	}
	if priv.Remove {
		b.WriteString("rm -f -- \"$f\" || exit 1\n")
	}
	res, err := h.Run(ctx, b.String(), nil)
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case 0:
	case 6:
		return s.setError(priv, res)
	case 7:
		return fmt.Errorf("sysctl %s: the sysctl command is not installed on the host (package procps)", s.name)
	default:
		return res.Err(fmt.Sprintf("sysctl %s", s.name))
	}
	if priv.Set {
		now, ok := strings.CutPrefix(strings.TrimSuffix(string(res.Stdout), "\n"), "now=")
		if !ok || norm(now) != norm(s.value) {
			return fmt.Errorf("sysctl %s: set to %q, but the kernel reads back %q (it rounds or clamps this value); write the value as the kernel shows it", s.name, s.value, now)
		}
	}
	return nil
}

// setError explains a refused sysctl -w: sysctl's own words (it says
// "permission denied" for a read-only mount too), then why.
func (s *Sysctl) setError(priv *Private, res resource.Result) error {
	msg := strings.TrimSpace(string(res.Stderr))
	if msg == "" {
		msg = "sysctl -w failed"
	}
	why := priv.Reason
	switch {
	case strings.Contains(msg, "No such file") || strings.Contains(msg, "unknown key"):
		why = "no such parameter on this host (is the kernel module that provides it loaded?)"
	case why == "" && strings.Contains(msg, "Operation not permitted"):
		why = "the kernel requires a capability root lacks here (in a container, CAP_NET_ADMIN or CAP_SYS_ADMIN)"
	case why == "" && strings.Contains(msg, "Invalid argument"):
		why = "the kernel does not accept this value"
	}
	if why != "" {
		msg += ": " + why
	}
	hint := ""
	if s.persist {
		hint = "; set apply = false to only persist it"
	}
	return fmt.Errorf("sysctl %s: cannot set the running value to %q: %s%s", s.name, s.value, msg, hint)
}
