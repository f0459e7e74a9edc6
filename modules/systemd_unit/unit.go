// Package systemdunit is the `systemd_unit` resource type: a unit file or a
// drop-in under /etc/systemd/system, managed as content, followed by one
// `systemctl daemon-reload` for all the units changed together.
package systemdunit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/aymanbagabas/go-udiff"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// unitDir is where local units and drop-ins go; it overrides /lib/systemd.
const unitDir = "/etc/systemd/system"

// maxFetch is the largest current content the probe sends back for the
// plan's diff; larger files are compared by checksum.
const maxFetch = 64 << 10

const doc = `Manages one systemd unit file, ` + "`/etc/systemd/system/NAME`" + `, or, with ` + "`dropin`" + `, one
drop-in, ` + "`/etc/systemd/system/NAME.d/DROPIN.conf`" + `. A drop-in is how a packaged unit is
changed without copying it: its settings are added to (or override) the package's unit,
which stays as the package ships it and follows its upgrades.

**Reading.** The probe reads the file's mode, owner and content (up to 64 KiB; above that
only its checksum), and the plan shows a unified diff of the content. It also asks systemd
whether the unit's files changed on disk since it read them (` + "`NeedDaemonReload`" + `): when
the file is right but systemd says so (it was edited by hand, or an earlier daemon-reload
failed), the plan is a daemon-reload alone. systemd only knows this for units it keeps
loaded (running ones, mostly), and version 252 does not notice a new drop-in; units it does
not keep loaded are read afresh when they are next used anyway.

**Applying.** Files are written atomically, mode 0644 and owned by root: a temporary
file in the same directory, checked against its SHA-256, then renamed over the old one.
A drop-in's directory is created when missing, and removed when the last drop-in in it
is. A symbolic link at the unit's path (a masked unit links to /dev/null) is replaced
by the file. Every ` + "`systemd_unit`" + ` changed together (one after another in the plan)
is written in one session followed by a single ` + "`systemctl daemon-reload`" + `. Then each
unit written is checked: when systemd cannot load it (` + "`LoadState=bad-setting`" + `, such
as a service without ` + "`ExecStart=`" + `), the resource fails with systemd's log lines
about it. The file stays written; fix the content and apply again.

The unit is not verified with ` + "`systemd-analyze verify`" + ` before it is written: that
command also fails on what is fine at this point (an ` + "`ExecStart=`" + ` binary the same run
installs later, a dependency on a unit not installed yet) and cannot check a drop-in
alone.

**Starting and restarting** is the ` + "`service`" + ` resource's job: a ` + "`service`" + ` that
` + "`watch`" + `es a ` + "`systemd_unit`" + ` is applied after it, so after the daemon-reload, and is
restarted when the unit changed. ` + "`state = \"absent\"`" + ` removes the file and reloads
systemd, but does not stop a unit that runs: stop it first (a ` + "`service`" + ` with
` + "`state = \"stopped\"`" + ` that the ` + "`systemd_unit`" + ` depends on).`

const example = `systemd_unit "render_worker" {
  name    = "render-worker.service"
  content = <<-EOT
    [Unit]
    Description=Render worker
    After=network-online.target

    [Service]
    User=render
    ExecStart=/opt/render/bin/worker
    Restart=on-failure

    [Install]
    WantedBy=multi-user.target
  EOT
}

service "render_worker" {
  name    = "render-worker.service"
  enabled = true
  watch   = [systemd_unit.render_worker] # restarted after the daemon-reload
}

# A packaged unit, changed by a drop-in.
systemd_unit "synapse_memory" {
  name    = "matrix-synapse.service"
  dropin  = "50-memory"
  content = "[Service]\nMemoryMax=1500M\n"
}

service "synapse" {
  name  = "matrix-synapse"
  watch = [systemd_unit.synapse_memory]
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "systemd_unit",
		Summary: "A systemd unit file or drop-in, written atomically, with one daemon-reload for all changed units.",
		Doc:     doc,
		Example: example,
		Fields: []resource.Field{
			{Name: "name", Type: cty.String, Required: true,
				Doc: "The unit's full name, with its type: `\"render-worker.service\"`, `\"backup.timer\"`, a template `\"getty@.service\"` or an instance `\"getty@tty1.service\"`."},
			{Name: "dropin", Type: cty.String,
				Doc: "Manage a drop-in of the unit instead of the unit file: its name without `.conf`, like `\"50-memory\"`. The file is `/etc/systemd/system/NAME.d/DROPIN.conf`; drop-ins are read in the order of their names."},
			{Name: "content", Type: cty.String,
				Doc: "The file's content, exactly (no newline is added). Required when `state = \"present\"`. Use a heredoc (`<<-EOT`) or `templatefile()`."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`. Absent removes the file (and the drop-in directory when it is left empty) and reloads systemd; it does not stop the unit."},
		},
		New: New,
	})
}

// Unit is one configured unit file or drop-in.
type Unit struct {
	unit    string // full unit name
	dropin  string // drop-in name with .conf, "" for the unit file
	path    string
	dir     string
	absent  bool
	content []byte
	sum     string // hex SHA-256 of content
}

var (
	_ resource.Resource   = (*Unit)(nil)
	_ resource.Aggregator = (*Unit)(nil)
)

var (
	unitRE   = regexp.MustCompile(`^[A-Za-z0-9:_\\@.-]+$`)
	dropinRE = regexp.MustCompile(`^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*$`)
)

var unitTypes = []string{".service", ".socket", ".device", ".mount", ".automount", ".swap",
	".target", ".path", ".timer", ".slice", ".scope"}

// New validates a systemd_unit block.
func New(cfg resource.Config) (resource.Resource, error) {
	u := &Unit{}
	var err error
	if u.unit, err = checkUnit(cfg.String("name")); err != nil {
		return nil, cfg.Errorf("name", "%v", err)
	}
	u.path, u.dir = unitDir+"/"+u.unit, unitDir
	if cfg.IsSet("dropin") {
		if u.dropin, err = checkDropin(cfg.String("dropin")); err != nil {
			return nil, cfg.Errorf("dropin", "%v", err)
		}
		u.dir = unitDir + "/" + u.unit + ".d"
		u.path = u.dir + "/" + u.dropin
	}
	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		u.absent = true
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	if u.absent {
		if cfg.IsSet("content") {
			return nil, cfg.Errorf("content", "has no effect with state = \"absent\"; remove it")
		}
		return u, nil
	}
	v := cfg.Values["content"]
	switch {
	case v == cty.NilVal || v.IsNull():
		return nil, cfg.Errorf("content", "is required with state = \"present\"; set the unit's text, for example with a heredoc (content = <<-EOT ... EOT)")
	case !v.IsKnown():
		return nil, cfg.Errorf("content", "is not known until apply; a unit's content must be known when planning")
	}
	u.content = []byte(v.AsString())
	if bytes.IndexByte(u.content, 0) >= 0 {
		return nil, cfg.Errorf("content", "contains a NUL byte, which no unit file can hold; remove it")
	}
	s := sha256.Sum256(u.content)
	u.sum = hex.EncodeToString(s[:])
	return u, nil
}

// checkUnit accepts a full unit name, as systemd does (unit_name_is_valid):
// a type suffix, at most one '@', and the characters of unit names.
func checkUnit(n string) (string, error) {
	const how = "name the unit in full with its type, like \"render-worker.service\" or \"backup.timer\""
	switch {
	case n == "":
		return "", errors.New("must not be empty; " + how)
	case len(n) > 255:
		return "", errors.New("is longer than 255 characters, the limit of unit names")
	case !unitRE.MatchString(n):
		return "", fmt.Errorf("%q is not a unit name: use letters, digits and : _ . @ - \\ only; %s", n, how)
	case n[0] == '.' || n[0] == '-' || n[0] == '@':
		return "", fmt.Errorf("%q must not start with %q; %s", n, n[0], how)
	case strings.Count(n, "@") > 1:
		return "", fmt.Errorf("%q has more than one '@'; a template is \"name@.service\", an instance \"name@instance.service\"", n)
	}
	for _, t := range unitTypes {
		if stem, ok := strings.CutSuffix(n, t); ok && stem != "" && !strings.HasSuffix(stem, ".") {
			return n, nil
		}
	}
	return "", fmt.Errorf("%q has no unit type; %s", n, how)
}

// checkDropin accepts a drop-in name and returns it with ".conf": systemd
// reads only *.conf files in NAME.d.
func checkDropin(d string) (string, error) {
	d = strings.TrimSuffix(d, ".conf")
	if !dropinRE.MatchString(d) || len(d) > 200 {
		return "", fmt.Errorf("%q is not a drop-in name: use letters, digits and _ . @ + - (not starting with '.'), like \"50-memory\"", d)
	}
	return d + ".conf", nil
}

// Probe prints, one key=value per line:
//
//	link=1                  the path is a symbolic link (the rest is about its target)
//	type=none|directory|other|file
//	reload=yes|no           systemd's NeedDaemonReload for the unit, when it can tell
//	stat=MODE UID GID SIZE  for a file wanted present
//	sha256=HEX              for one bigger than maxFetch, or
//	base64=                 the rest of the output is its content
func (u *Unit) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nu=%s\n", shellescape.Quote(u.path), shellescape.Quote(u.unit))
	// Errors (no systemd, a template name) leave the reload state unknown:
	// the file is what matters.
	b.WriteString(`r=$(systemctl show -p NeedDaemonReload --value -- "$u" 2>/dev/null) && [ -n "$r" ] && echo "reload=$r"
if [ -L "$p" ]; then echo link=1; fi
if [ -d "$p" ]; then echo type=directory; exit 0; fi
if [ ! -e "$p" ]; then echo type=none; exit 0; fi
if [ ! -f "$p" ]; then echo type=other; exit 0; fi
echo type=file
`)
	if u.absent {
		return b.String()
	}
	fmt.Fprintf(&b, `s=$(stat -L -c '%%a %%u %%g %%s' -- "$p" 2>/dev/null) || { echo error=stat; exit 1; }
echo "stat=$s"
set -f; IFS=' '; set -- $s
if [ "$4" -gt %d ]; then h=$(sha256sum <"$p") || { echo error=read; exit 1; }; echo "sha256=${h%%%% *}"; exit 0; fi
echo base64=
base64 <"$p" || exit 1
`, maxFetch)
	return b.String()
}

// probe is the parsed output of Probe.
type probe struct {
	link    bool
	typ     string
	reload  bool
	stat    bool
	mode    string
	uid     string
	gid     string
	size    int64
	sum     string
	content []byte
	fetched bool
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		switch {
		case bytes.Contains(out.Stdout, []byte("error=stat")), bytes.Contains(out.Stdout, []byte("error=read")):
			return nil, errors.New("cannot read it on the target")
		}
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{}
	rest := out.Stdout
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		k, v, ok := strings.Cut(string(line), "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "link":
			p.link = v == "1"
		case "type":
			p.typ = v
		case "reload":
			p.reload = v == "yes"
		case "stat":
			fs := strings.Fields(v)
			if len(fs) != 4 {
				return nil, fmt.Errorf("malformed metadata %q in probe output", v)
			}
			if _, err := fmt.Sscan(fs[3], &p.size); err != nil || p.size < 0 {
				return nil, fmt.Errorf("malformed size %q in probe output", fs[3])
			}
			p.mode, p.uid, p.gid, p.stat = fs[0], fs[1], fs[2], true
		case "sha256":
			if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
				return nil, fmt.Errorf("malformed checksum %q in probe output", v)
			}
			p.sum = v
		case "base64":
			c, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(rest, []byte("\n"), nil)))
			if err != nil {
				return nil, fmt.Errorf("malformed content in probe output: %v", err)
			}
			s := sha256.Sum256(c)
			p.content, p.fetched, p.sum, rest = c, true, hex.EncodeToString(s[:]), nil
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	switch p.typ {
	case "none", "directory", "other", "file":
	default:
		return nil, fmt.Errorf("malformed probe output: file type %q", p.typ)
	}
	return p, nil
}

// Private is what Apply needs from the plan.
type Private struct {
	Write  bool `json:"write,omitempty"`
	Delete bool `json:"delete,omitempty"`
	Reload bool `json:"reload,omitempty"` // daemon-reload (also when nothing is written)
}

// Plan compares the probed file with the desired one.
func (u *Unit) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u.path, err)
	}
	switch {
	case p.typ == "directory":
		return nil, fmt.Errorf("%s is a directory (or a link to one), not a file; remove it or choose another name", u.path)
	case p.typ == "other" && !p.link:
		return nil, fmt.Errorf("%s exists but is not a regular file (a device, fifo or socket); remove it first", u.path)
	}
	// reloadOnly is systemd not having read a file that is already right.
	reloadOnly := func() *resource.Diff {
		if !p.reload {
			return &resource.Diff{Action: resource.NoOp}
		}
		return &resource.Diff{
			Action:  resource.Update,
			Changes: []resource.Change{{Field: "daemon-reload", Old: "files changed since systemd read them", New: "reloaded"}},
			Private: &Private{Reload: true},
		}
	}
	if u.absent {
		if p.typ == "none" && !p.link {
			return reloadOnly(), nil
		}
		old := "file"
		if p.link {
			old = "symlink"
		}
		return &resource.Diff{
			Action:  resource.Delete,
			Changes: []resource.Change{{Field: "state", Old: old, New: "absent"}},
			Private: &Private{Delete: true, Reload: true},
		}, nil
	}
	if p.typ == "file" && !p.link && (!p.stat || p.sum == "") {
		return nil, fmt.Errorf("%s: malformed probe output: no metadata or checksum", u.path)
	}
	d := &resource.Diff{Action: resource.Update, Private: &Private{Write: true, Reload: true}}
	newC := resource.Change{Field: "content", New: describe(int64(len(u.content)), u.sum)}
	switch {
	case p.typ != "file":
		// Nothing there, or a link to something that is not a file (/dev/null).
		if p.link {
			d.Changes = append(d.Changes, resource.Change{Field: "type", Old: "symlink", New: "file"})
		} else {
			d.Action = resource.Create
		}
		d.Changes = append(d.Changes, newC)
		d.TextDiff = udiff.Unified("/dev/null", u.path, "", string(u.content))
		return d, nil
	case p.link:
		d.Changes = append(d.Changes, resource.Change{Field: "type", Old: "symlink", New: "file"})
	}
	if p.sum != u.sum {
		newC.Old = describe(p.size, p.sum)
		d.Changes = append(d.Changes, newC)
		if p.fetched {
			d.TextDiff = udiff.Unified(u.path, u.path, string(p.content), string(u.content))
		}
	}
	if p.mode != "644" {
		d.Changes = append(d.Changes, resource.Change{Field: "mode", Old: fmt.Sprintf("%04s", p.mode), New: "0644"})
	}
	if p.uid != "0" || p.gid != "0" {
		d.Changes = append(d.Changes, resource.Change{Field: "owner", Old: p.uid + ":" + p.gid, New: "0:0"})
	}
	if len(d.Changes) == 0 {
		return reloadOnly(), nil
	}
	return d, nil
}

func describe(size int64, sum string) string {
	unit := "bytes"
	if size == 1 {
		unit = "byte"
	}
	return fmt.Sprintf("%d %s, sha256 %s", size, unit, sum[:12])
}

// Apply writes or removes the file and reloads systemd.
func (u *Unit) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	err := u.ApplyAll(ctx, h, []resource.Resource{u}, []*resource.Diff{d})
	var each resource.Errors
	if errors.As(err, &each) && len(each) == 1 {
		return each[0]
	}
	return err
}
