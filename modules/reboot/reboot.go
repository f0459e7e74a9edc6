// Package reboot is the "reboot" resource type: reboot the target when it
// needs it, wait until it is back, and go on with the run.
package reboot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const doc = `Reboots the target and waits until it is back, like Ansible's ` + "`reboot`" + ` module; the
rest of the run then goes on over a new connection.

**When.** The host is rebooted when the file ` + "`if_exists`" + ` exists on it (by default
` + "`/run/reboot-required`" + `, which Debian's packages create when an upgrade wants a reboot:
a new kernel, a new libc), and when a resource it ` + "`watch`" + `es changed in this run (a
kernel package, a boot configuration). With ` + "`if_exists = \"\"`" + ` only a watched change
reboots. The plan shows ` + "`!`" + ` with the reason. A run reboots a host at most once, even when
both reasons hold.

**How.** Apply records the host's boot id (` + "`/proc/sys/kernel/random/boot_id`" + `), asks
systemd to reboot a second later (so the command's session returns cleanly), then dials
the host again every few seconds until it answers with a *different* boot id, within
` + "`timeout`" + ` seconds. A host that is back too late fails this resource, and what depends
on it is skipped; the host's lock (kept on its disk) and owed refreshes survive the
reboot. The resources after the reboot apply the plan made before it: order resources
that should see the rebooted system after it (` + "`depends_on`" + `).

**Not for.** Rebooting every board at once: put the reboot in a role applied with a
rollout (` + "`--batch`" + `, or a stage's ` + "`rollout`" + ` block), so a batch at a time is down.`

const example = `package "kernel" {
  name = "linux-image-arm64"
}

reboot "kernel" {
  watch   = [package.kernel]
  timeout = 900   # a board with root on NFS takes its time
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "reboot",
		Summary: "Reboot the target when needed and wait until it is back.",
		Doc:     doc,
		Example: example,
		Refresh: "reboot",
		Fields: []resource.Field{
			{Name: "if_exists", Type: cty.String, Default: cty.StringVal("/run/reboot-required"),
				Doc: "An absolute path; the host is rebooted when it exists. `\"\"`: only when a watched resource changed."},
			{Name: "timeout", Type: cty.Number, Default: resource.Num(600),
				Doc: "Seconds the host may take to go down and answer SSH again (at least 10)."},
		},
		New: New,
	})
}

// Reboot is one reboot of one host.
type Reboot struct {
	ifExists string
	timeout  time.Duration
	bootID   string // before the reboot, set by Apply or Refresh
}

var (
	_ resource.Resource    = (*Reboot)(nil)
	_ resource.Refresher   = (*Reboot)(nil)
	_ resource.Reconnector = (*Reboot)(nil)
)

// New validates a reboot block.
func New(cfg resource.Config) (resource.Resource, error) {
	r := &Reboot{ifExists: cfg.String("if_exists")}
	if r.ifExists != "" && !strings.HasPrefix(r.ifExists, "/") {
		return nil, cfg.Errorf("if_exists", "must be an absolute path (or \"\" to reboot only when a watched resource changed); %q is not", r.ifExists)
	}
	t := cfg.Int("timeout")
	if t < 10 {
		return nil, cfg.Errorf("timeout", "must be at least 10 seconds (a reboot takes longer); got %d", t)
	}
	r.timeout = time.Duration(t) * time.Second
	return r, nil
}

// Probe prints "required" when the flag file exists.
func (r *Reboot) Probe() string {
	if r.ifExists == "" {
		return "true"
	}
	return "if [ -e " + shellescape.Quote(r.ifExists) + " ]; then echo required; fi"
}

// Plan reboots when the flag file exists.
func (r *Reboot) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed (exit status %d)", out.ExitCode)
	}
	if strings.TrimSpace(string(out.Stdout)) != "required" {
		return &resource.Diff{}, nil
	}
	return &resource.Diff{Action: resource.Run, Changes: []resource.Change{
		{Field: "reboot", Old: r.ifExists + " exists", New: "reboot and wait up to " + r.timeout.String()},
	}}, nil
}

// Apply reboots the host.
func (r *Reboot) Apply(ctx context.Context, h resource.Runner, _ *resource.Diff) error {
	return r.reboot(ctx, h)
}

// Refresh reboots the host because a watched resource changed, unless
// this run rebooted it already.
func (r *Reboot) Refresh(ctx context.Context, h resource.Runner) (string, error) {
	if r.bootID != "" {
		return "", nil
	}
	if err := r.reboot(ctx, h); err != nil {
		return "", err
	}
	return "rebooted", nil
}

// rebootScript prints the boot id, then has systemd reboot a second
// later, so that this session ends normally first. Without systemd-run
// (no systemd) a detached shell does the same.
const rebootScript = `cat /proc/sys/kernel/random/boot_id || exit
if command -v systemd-run >/dev/null 2>&1; then
  systemd-run --quiet --on-active=1 --timer-property=AccuracySec=100ms /bin/systemctl reboot || exit
else
  (setsid sh -c 'sleep 1; reboot' </dev/null >/dev/null 2>&1 &)
fi`

func (r *Reboot) reboot(ctx context.Context, h resource.Runner) error {
	res, err := h.Run(ctx, rebootScript, nil)
	if err == nil {
		err = res.Err("scheduling the reboot")
	}
	if err != nil {
		return err
	}
	r.bootID = strings.TrimSpace(string(res.Stdout))
	if r.bootID == "" {
		return errors.New("scheduling the reboot: the host has no /proc/sys/kernel/random/boot_id")
	}
	return nil
}

// Reconnect waits until the host answers with another boot id.
func (r *Reboot) Reconnect(ctx context.Context, dial func(context.Context) (resource.Runner, error)) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	last := errors.New("it still ran the same boot")
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return ctx.Err()
			}
			return fmt.Errorf("the host was not back within %s after the reboot (%v)", r.timeout, last)
		case <-time.After(2 * time.Second):
		}
		c, err := dial(ctx)
		if err != nil {
			last = err
			continue
		}
		res, err := c.Run(ctx, "cat /proc/sys/kernel/random/boot_id", nil)
		if err != nil {
			last = err
			continue
		}
		if id := strings.TrimSpace(string(res.Stdout)); id != "" && id != r.bootID {
			return nil
		}
	}
}
