// Package capture is the `capture` resource type: a value read from the
// host by a read-only command, for other hosts to use through a role's
// outputs (Salt's mine).
package capture

import (
	"context"
	"fmt"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func init() {
	resource.Register(&resource.Type{
		Name:    "capture",
		Summary: "A value read from the host by a read-only command (its standard output), for other hosts.",
		Doc: `Reads a value from the host: the standard output of ` + "`command`" + ` (` + "`sh -c`" + `, as
root), trailing newlines removed, as ` + "`capture.NAME.stdout`" + `. It changes nothing, and
nothing is ever applied for it. It exists to hand what a host *has* to the hosts that
need it, through a role's outputs: the public key a builder board generated to the
repository host that must authorize it, the cluster token a first node created to the
nodes that join it (Salt's mine, Terraform's data sources).

` + "```hcl" + `
# roles/builder: generate a key once, offer its public half
exec "keygen" {
  command = "ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_builder"
  creates = "/root/.ssh/id_builder"
}
capture "pubkey" {
  command    = "cat /root/.ssh/id_builder.pub"
  depends_on = [exec.keygen]
}
output "pubkey" { value = capture.pubkey.stdout }

# site: the repository host authorizes every builder's key
role "repo" {
  source  = "./roles/repo"
  targets = ["repo"]
  inputs  = { keys = [for h, o in outputs.builder : o.pubkey] }
}
` + "```" + `

**When the value is known.** The command runs within the host's probe (no extra
session), so its value is known at plan time, and every host that reads it (through
` + "`outputs`" + `) is planned with it. When something the capture depends on (its
` + "`depends_on`" + `, references) is about to change on its host, the value read now
would be stale: it is **known after apply**. The hosts that read it are then planned
as "known after apply" and, during apply, planned again and applied once the capture's
host has been applied and the command run again. On the next run everything is known
at plan time.

**Only for other hosts.** A resource of the capture's own host cannot use
` + "`stdout`" + ` (the host is planned in one probe, before the value is read): use it in
a role's ` + "`output`" + ` for other hosts, or run the command where it is needed.

**Read-only.** The command runs on every plan; it must not change anything. A command
that fails (non-zero exit) at plan time is a plan error for the resource, with its
standard error, unless the value is known after apply anyway. With
` + "`sensitive = true`" + ` the value is sensitive wherever it goes (never shown in a plan,
log or saved plan).`,
		Example: `capture "token" {
  command    = "cat /var/lib/k3s/server/node-token"
  sensitive  = true
  depends_on = [service.k3s]
}

output "token" {
  value     = capture.token.stdout
  sensitive = true
}`,
		Fields: []resource.Field{
			{Name: "command", Type: cty.String, Required: true,
				Doc: "A read-only shell command whose standard output is the value. Runs on every plan."},
			{Name: "sensitive", Type: cty.Bool, Default: cty.False,
				Doc: "The value is sensitive: never shown in any output."},
		},
		Computed: []resource.Field{
			{Name: "stdout", Type: cty.String,
				Doc: "The command's standard output, trailing newlines removed."},
		},
		New: New,
	})
}

// Capture is one configured capture.
type Capture struct {
	command   string
	sensitive bool
}

var (
	_ resource.Resource = (*Capture)(nil)
	_ resource.Reader   = (*Capture)(nil)
)

// New builds a capture from its configuration.
func New(cfg resource.Config) (resource.Resource, error) {
	c := &Capture{command: cfg.String("command"), sensitive: cfg.Bool("sensitive")}
	if strings.TrimSpace(c.command) == "" {
		return nil, cfg.Errorf("command", "capture: command must not be empty")
	}
	return c, nil
}

// Probe runs the command; its standard error follows the value, after a
// line only a capture's output cannot contain mid-way, so Read can say
// why a command failed.
func (c *Capture) Probe() string {
	return "exec 3>&1\nerr=$(sh -c " + shellescape.Quote(c.command) + " 2>&1 1>&3 3>&-)\nrc=$?\nprintf '\\n%s\\n' '" + errMark + "'\nprintf '%s' \"$err\" | tail -c 2000\nexit $rc"
}

const errMark = "--pinery-capture-stderr--"

// Plan: a capture never changes anything.
func (c *Capture) Plan(resource.ProbeResult) (*resource.Diff, error) {
	return &resource.Diff{Action: resource.NoOp}, nil
}

// Apply is never called: the plan is always empty.
func (c *Capture) Apply(context.Context, resource.Runner, *resource.Diff) error { return nil }

// Read turns the probe's output into stdout.
func (c *Capture) Read(out resource.ProbeResult) (map[string]cty.Value, error) {
	s := string(out.Stdout)
	i := strings.LastIndex(s, "\n"+errMark+"\n")
	if i < 0 {
		return nil, fmt.Errorf("capture: unreadable probe output")
	}
	value, stderr := s[:i], strings.TrimSpace(s[i+len(errMark)+2:])
	if out.ExitCode != 0 {
		if c.sensitive || stderr == "" {
			return nil, fmt.Errorf("capture: command exited with status %d", out.ExitCode)
		}
		return nil, fmt.Errorf("capture: command exited with status %d: %s", out.ExitCode, stderr)
	}
	return map[string]cty.Value{"stdout": cty.StringVal(strings.TrimRight(value, "\n"))}, nil
}
