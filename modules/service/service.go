// Package service is the "service" resource type: a systemd unit started
// or stopped, enabled or disabled, and restarted when what it watches
// changes.
package service

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const doc = `Keeps a systemd unit running or stopped, enabled at boot or not, and
restarts (or reloads) it when a resource it ` + "`watch`" + `es changes.

**Reading.** One ` + "`systemctl show`" + ` for all the services of a host reads their load state, active
state and unit file state. A unit that does not exist yet is not an error: the
package that installs it may be applied earlier in the same run. The plan then
shows the change with "(unit not found yet)", and apply fails clearly if the
unit is still missing by then.

**Planning.** ` + "`~`" + ` with ` + "`state`" + ` when the unit must be started or stopped and
` + "`enabled`" + ` when it must be enabled or disabled. Units that cannot be enabled
or disabled (` + "`static`" + `, ` + "`generated`" + `, ` + "`transient`" + `, ` + "`indirect`" + `)
count as converged for ` + "`enabled`" + `. A unit crash-looping in ` + "`auto-restart`" + ` is
not running. Fields left unset (` + "`enabled`" + `, or ` + "`state = \"unmanaged\"`" + `) are
not looked at.

**Applying.** One command when both change (` + "`systemctl enable --now`" + `,
` + "`systemctl disable --now`" + `). When a unit file changed on disk since systemd
read it (another resource wrote it), ` + "`systemctl daemon-reload`" + ` runs first,
so the new unit is what starts. When a start fails, the error carries the last
20 lines of the unit's journal.

**Refresh.** When a watched resource changed, a service whose state is
` + "`running`" + ` is restarted (or reloaded with ` + "`reload = true`" + `:
` + "`systemctl reload-or-restart`" + `); a ` + "`stopped`" + ` service is left alone; an ` + "`unmanaged`" + ` one
is restarted only if it is running (` + "`try-restart`" + `). A service this run has just
started is not restarted again.`

const example = `service "nginx" {
  name    = "nginx"
  enabled = true
  reload  = true
  watch   = [file.nginx_conf]
}

service "exim" {
  name    = "exim4"
  state   = "stopped"
  enabled = false
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "service",
		Summary: "A systemd unit kept running or stopped, enabled or disabled, and restarted or reloaded on watched changes.",
		Doc:     doc,
		Example: example,
		Refresh: "restart",
		Fields: []resource.Field{
			{Name: "name", Type: cty.String, Required: true,
				Doc: "The unit: `nginx` means `nginx.service`; other unit types are named in full (`fstrim.timer`, `getty@tty1.service`)."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("running"),
				Doc: "`running`, `stopped`, or `unmanaged` to leave it as it is (only `enabled` is managed then)."},
			{Name: "enabled", Type: cty.Bool,
				Doc: "Whether the unit starts at boot. Unset: not managed."},
			{Name: "reload", Type: cty.Bool, Default: cty.False,
				Doc: "Reload instead of restarting when a watched resource changes (`systemctl reload-or-restart`: units without a reload action are restarted)."},
		},
		New: New,
	})
}

// Service is one systemd unit on one host.
type Service struct {
	unit    string // full unit name
	state   string // running, stopped, unmanaged
	enabled *bool
	reload  bool

	// started records that Apply started the unit in this run, so that a
	// refresh in the same run does not restart it again.
	started atomic.Bool
}

var (
	_ resource.Resource  = (*Service)(nil)
	_ resource.Refresher = (*Service)(nil)
)

var unitRE = regexp.MustCompile(`^[A-Za-z0-9:_\\@][A-Za-z0-9:_.\\@-]*$`)

var unitTypes = []string{".service", ".socket", ".device", ".mount", ".automount", ".swap",
	".target", ".path", ".timer", ".slice", ".scope"}

// New validates a service block.
func New(cfg resource.Config) (resource.Resource, error) {
	name := cfg.String("name")
	s := &Service{state: cfg.String("state"), reload: cfg.Bool("reload")}
	if !cfg.IsSet("state") {
		s.state = "unmanaged"
	}
	if len(name) > 255 || !unitRE.MatchString(name) {
		return nil, cfg.Errorf("name", "%q is not a systemd unit name: use letters, digits and : _ . @ - (not starting with '-' or '.'), like \"nginx\" or \"getty@tty1.service\"", name)
	}
	s.unit = name
	if !hasUnitType(name) {
		s.unit = name + ".service"
	}
	if strings.Contains(s.unit, "@.") {
		return nil, cfg.Errorf("name", "%q is a template: name an instance, like \"getty@tty1.service\"", name)
	}
	switch s.state {
	case "running", "stopped", "unmanaged":
	default:
		return nil, cfg.Errorf("state", "%q is not a service state: use \"running\", \"stopped\" or \"unmanaged\"", s.state)
	}
	if cfg.IsSet("enabled") {
		b := cfg.Bool("enabled")
		s.enabled = &b
	}
	return s, nil
}

func hasUnitType(name string) bool {
	for _, t := range unitTypes {
		if strings.HasSuffix(name, t) && len(name) > len(t) {
			return true
		}
	}
	return false
}

// Probe reads the unit's states with one systemctl call. Errors (no
// systemd) go to stdout so that Plan can quote them.
func (s *Service) Probe() string {
	return "systemctl show -p LoadState -p ActiveState -p SubState -p UnitFileState -- " + shellescape.Quote(s.unit) + " 2>&1"
}

type observed struct {
	load, active, sub, file string
}

func parseShow(out []byte) (observed, error) {
	var o observed
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return o, fmt.Errorf("unexpected line %q", line)
		}
		switch k {
		case "LoadState":
			o.load = v
		case "ActiveState":
			o.active = v
		case "SubState":
			o.sub = v
		case "UnitFileState":
			o.file = v
		default:
			return o, fmt.Errorf("unexpected property %q", k)
		}
		seen[k] = true
	}
	for _, k := range []string{"LoadState", "ActiveState", "SubState", "UnitFileState"} {
		if !seen[k] {
			return o, fmt.Errorf("systemctl show printed no %s", k)
		}
	}
	return o, nil
}

func (o observed) notFound() bool { return o.load == "not-found" }

// running: active, reloading, or starting (but not crash-looping).
func (o observed) running() bool {
	switch o.active {
	case "active", "reloading":
		return true
	case "activating":
		return o.sub != "auto-restart"
	}
	return false
}

// stopping-worthy: anything that is or becomes active.
func (o observed) stoppable() bool {
	switch o.active {
	case "active", "reloading", "activating":
		return true
	}
	return false
}

func (o observed) describeActive() string {
	switch {
	case o.notFound():
		return "(unit not found yet)"
	case o.load == "masked":
		return "masked"
	case o.sub != "" && o.sub != o.active:
		return o.active + " (" + o.sub + ")"
	}
	return o.active
}

func (o observed) describeFile() string {
	switch {
	case o.notFound():
		return "(unit not found yet)"
	case o.file == "":
		return "(no unit file)"
	}
	return o.file
}

// enabledLike are the unit file states that count as enabled
// (`systemctl is-enabled` exits 0 for them).
func enabledLike(f string) bool {
	switch f {
	case "enabled", "enabled-runtime", "alias", "static", "indirect", "generated", "transient":
		return true
	}
	return false
}

// disabledLike are the states that count as not enabled at boot, including
// those that cannot be disabled at all.
func disabledLike(f string) bool {
	switch f {
	case "disabled", "masked", "masked-runtime", "linked", "linked-runtime", "static", "indirect",
		"generated", "transient", "bad", "":
		return true
	}
	return false
}

// actions is the Diff's private part.
type actions struct {
	Start, Stop, Enable, Disable bool
	NotFound                     bool
}

// Plan compares systemd's view with the desired state.
func (s *Service) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	if out.ExitCode != 0 {
		msg := strings.TrimSpace(string(out.Stdout))
		switch {
		case out.ExitCode == 127:
			return nil, fmt.Errorf("service %s: systemctl not found: the service resource needs systemd", s.unit)
		case strings.Contains(msg, "has not been booted with systemd") || strings.Contains(msg, "Failed to connect to bus"):
			return nil, fmt.Errorf("service %s: systemd is not running on this host (%s)", s.unit, firstLine(msg))
		}
		return nil, fmt.Errorf("service %s: systemctl show failed with exit status %d: %s", s.unit, out.ExitCode, msg)
	}
	o, err := parseShow(out.Stdout)
	if err != nil {
		return nil, fmt.Errorf("service %s: unreadable probe output: %w", s.unit, err)
	}
	var a actions
	var ch []resource.Change
	switch s.state {
	case "running":
		if !o.running() {
			a.Start = true
			ch = append(ch, resource.Change{Field: "state", Old: o.describeActive(), New: "running"})
		}
	case "stopped":
		if !o.notFound() && o.stoppable() {
			a.Stop = true
			ch = append(ch, resource.Change{Field: "state", Old: o.describeActive(), New: "stopped"})
		}
	}
	if s.enabled != nil {
		switch {
		case *s.enabled && (o.notFound() || !enabledLike(o.file)):
			a.Enable = true
			ch = append(ch, resource.Change{Field: "enabled", Old: o.describeFile(), New: "enabled"})
		case !*s.enabled && !o.notFound() && !disabledLike(o.file):
			a.Disable = true
			ch = append(ch, resource.Change{Field: "enabled", Old: o.describeFile(), New: "disabled"})
		}
	}
	if len(ch) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	a.NotFound = o.notFound()
	return &resource.Diff{Action: resource.Update, Changes: ch, Private: a}, nil
}

// Markers on the apply script's stdout.
const (
	markNotFound = "::pinery-unit-not-found::"
	markJournal  = "::pinery-journal::"
	// markWasActive: the unit was already running when apply came to start it.
	markWasActive = "::pinery-was-active::"
)

// prelude reloads systemd when the unit's files changed on disk or the
// unit is not loaded yet, and stops with markNotFound when it still does
// not exist.
func prelude(unit string) string {
	q := shellescape.Quote(unit)
	return "u=" + q + "\n" +
		"s=$(systemctl show -p LoadState -p NeedDaemonReload -p ActiveState -- \"$u\") || exit\n" +
		"case $s in *NeedDaemonReload=yes*|*LoadState=not-found*) systemctl daemon-reload || exit; s=$(systemctl show -p LoadState -p ActiveState -- \"$u\") || exit;; esac\n" +
		"case $s in *LoadState=not-found*) echo '" + markNotFound + "'; exit 1;; esac\n"
}

// withJournal runs cmd and, when it fails, prints the unit's last log lines
// after markJournal and exits with cmd's status.
func withJournal(cmd string) string {
	return cmd + " || { rc=$?; echo '" + markJournal + "'; journalctl -u \"$u\" -n 20 --no-pager -q 2>/dev/null; exit $rc; }\n"
}

func (a actions) command() (cmd, what string, starts bool) {
	sc := func(verb string, now bool) string {
		if now {
			return "systemctl " + verb + " --now -- \"$u\""
		}
		return "systemctl " + verb + " -- \"$u\""
	}
	switch {
	case a.Start && a.Enable:
		return sc("enable", true), "enable and start", true
	case a.Stop && a.Disable:
		return sc("disable", true), "stop and disable", false
	case a.Start && a.Disable:
		return sc("disable", false) + " && " + sc("start", false), "disable and start", true
	case a.Stop && a.Enable:
		return sc("enable", false) + " && " + sc("stop", false), "enable and stop", false
	case a.Start:
		return sc("start", false), "start", true
	case a.Stop:
		return sc("stop", false), "stop", false
	case a.Enable:
		return sc("enable", false), "enable", false
	case a.Disable:
		return sc("disable", false), "disable", false
	}
	return "", "", false
}

// Apply starts, stops, enables or disables the unit as planned.
func (s *Service) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	a, ok := d.Private.(actions)
	if !ok {
		return fmt.Errorf("service %s: the plan carries no service actions (was it made by this version of pinery?)", s.unit)
	}
	cmd, what, starts := a.command()
	if cmd == "" {
		return nil
	}
	script := prelude(s.unit)
	if starts {
		// The unit may have been started since the probe (a package's
		// postinst starts its daemon): then this start is a no-op, the unit
		// runs with whatever configuration it had, and a watch refresh is
		// still owed.
		script += "case $s in *ActiveState=active*) echo '" + markWasActive + "';; esac\n" + withJournal(cmd)
	} else {
		script += cmd + "\n"
	}
	out, err := s.runOut(ctx, h, script, what)
	if err != nil {
		return err
	}
	if starts && !strings.Contains(out, markWasActive) {
		s.started.Store(true)
	}
	return nil
}

// Refresh restarts (or reloads) the unit after a watched resource changed.
func (s *Service) Refresh(ctx context.Context, h resource.Runner) (string, error) {
	if s.state == "stopped" || s.started.Load() {
		return "", nil
	}
	verb, done := "restart", "restarted"
	if s.reload {
		verb, done = "reload-or-restart", "reloaded"
	}
	if s.state == "unmanaged" {
		verb = "try-" + verb
	}
	script := prelude(s.unit) + withJournal("systemctl "+verb+" -- \"$u\"")
	if err := s.run(ctx, h, script, verb); err != nil {
		return "", err
	}
	return done, nil
}

func (s *Service) run(ctx context.Context, h resource.Runner, script, what string) error {
	_, err := s.runOut(ctx, h, script, what)
	return err
}

// runOut runs an apply script and returns its stdout when it succeeded.
func (s *Service) runOut(ctx context.Context, h resource.Runner, script, what string) (string, error) {
	res, err := h.Run(ctx, script, nil)
	if err != nil {
		return "", fmt.Errorf("service %s: %s: %w", s.unit, what, err)
	}
	if res.ExitCode == 0 {
		return string(res.Stdout), nil
	}
	out := string(res.Stdout)
	if strings.Contains(out, markNotFound) {
		return "", fmt.Errorf("service %s: unit not found: no installed package or unit file provides it (check the name, and that what installs it is applied first)", s.unit)
	}
	journal := ""
	if i := strings.Index(out, markJournal+"\n"); i >= 0 {
		journal = strings.TrimRight(out[i+len(markJournal)+1:], "\n")
	}
	err = res.Err(fmt.Sprintf("service %s: %s failed", s.unit, what))
	if res.Stderr == nil || len(bytes.TrimSpace(res.Stderr)) == 0 {
		err = fmt.Errorf("service %s: %s failed: exit status %d", s.unit, what, res.ExitCode)
	}
	if journal != "" {
		err = fmt.Errorf("%w\nlast log lines (journalctl -u %s -n 20):\n%s", err, s.unit, indent(journal))
	}
	return "", err
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
