package zramswap

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// The whole cycle on a fleet host. What apply must do there depends on what
// the host's kernel lets it do, asked first: the fleet's hosts are
// systemd-nspawn containers, where /sys is read-only, so apply must write
// and enable the unit and then fail saying why, without leaving a zram
// device behind on the shared kernel. On a host that can have zram swap,
// the swap must be there, as configured, and the plan converge.
func TestFleetZramSwap(t *testing.T) {
	h := fleettest.Dial(t, "h2")
	run := func(cmd string) string { return strings.TrimSpace(resourcetest.Run(t, h, cmd)) }
	t.Cleanup(func() {
		_, _ = h.Run(context.Background(), "systemctl disable --now --quiet "+unitName+" 2>/dev/null; rm -f "+unitPath+" "+scriptPath+" "+stateFile+"; systemctl daemon-reload; systemctl reset-failed "+unitName+" 2>/dev/null; :", nil)
	})
	can := run(`if [ ! -d /sys/class/zram-control ] && ! command -v modprobe >/dev/null; then echo nozram
elif [ -d /sys/class/zram-control ] && [ ! -w /sys/class/zram-control/hot_remove ]; then echo readonly
else echo ok; fi`)
	virt := run("systemd-detect-virt --container || :")
	devices := func() string { return run("set +f; echo /sys/block/zram*") }
	before := devices()
	t.Logf("host kernel: %s; container: %s; zram devices: %s", can, virt, before)

	z := newZram(t, map[string]cty.Value{"size": str("64M"), "priority": num(7)})
	d := resourcetest.Plan(t, h, z)
	if d.Action != resource.Create {
		t.Fatalf("first plan %v %+v", d.Action, d.Changes)
	}
	err := z.Apply(context.Background(), h, d)
	switch can {
	case "readonly":
		if err == nil || !strings.Contains(err.Error(), "did not start: /sys is read-only here, so no zram device can be set up") {
			t.Fatalf("apply: got %v, want the read-only /sys error", err)
		}
		if virt != "none" && !strings.Contains(err.Error(), "this host is a "+virt+" container") {
			t.Errorf("apply error does not name the container kind %s: %v", virt, err)
		}
	case "nozram":
		if err == nil || !strings.Contains(err.Error(), "the kernel has no zram device support") {
			t.Fatalf("apply: got %v, want the no-zram error", err)
		}
	default:
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	t.Logf("apply: %v", err)

	if got := run("stat -c '%a %U %G' " + unitPath + " " + scriptPath); got != "644 root root\n755 root root" {
		t.Errorf("files: %q", got)
	}
	if got := run("systemctl is-enabled " + unitName + " || :"); got != "enabled" {
		t.Errorf("unit %s, want enabled", got)
	}
	if got := run("systemctl show -p ExecStart --value " + unitName); !strings.Contains(got, "argv[]="+scriptPath+" start 64M zstd,lz4,lzo-rle,lzo 7 ;") {
		t.Errorf("systemd reads ExecStart as %q", got)
	}
	again := resourcetest.Plan(t, h, z)
	if can == "ok" {
		if !again.Empty() {
			t.Fatalf("not converged: %+v", again.Changes)
		}
		if got := run(`while read -r n _ s _ p; do case $n in /dev/zram*) echo "$s $p";; esac; done </proc/swaps`); got != "65532 7" {
			t.Errorf("/proc/swaps: %q, want 64 MiB less a header page at priority 7", got)
		}
	} else {
		// The files are right; the swap is still missing, and the plan says so.
		if again.Empty() || again.Changes[0].Field != "swap" || !strings.Contains(again.Changes[0].Old, "unit failed") {
			t.Errorf("plan after the failed apply: %+v", again.Changes)
		}
		if after := devices(); after != before {
			t.Errorf("zram devices %s before the apply, %s after: a device was left on the shared kernel", before, after)
		}
	}

	if can != "ok" {
		// A percentage reaches the script through systemd's % escaping.
		pct := newZram(t, map[string]cty.Value{"size": str("5%"), "priority": num(7)})
		d := resourcetest.Plan(t, h, pct)
		if !strings.Contains(d.TextDiff, "+ExecStart="+scriptPath+" start 5%% zstd") {
			t.Errorf("diff:\n%s", d.TextDiff)
		}
		if err := pct.Apply(context.Background(), h, d); err == nil {
			t.Errorf("apply of 5%% succeeded where the kernel refused 64M")
		}
		if got := run("systemctl show -p ExecStart --value " + unitName); !strings.Contains(got, "argv[]="+scriptPath+" start 5% zstd,lz4,lzo-rle,lzo 7 ;") {
			t.Errorf("systemd reads ExecStart as %q", got)
		}
	}

	gone := newZram(t, map[string]cty.Value{"state": str("absent")})
	if d := resourcetest.Converge(t, h, gone); d.Action != resource.Delete {
		t.Errorf("absent: %v", d.Action)
	}
	if got := run("ls " + unitPath + " " + scriptPath + " 2>&1 || :"); strings.Count(got, "No such file") != 2 {
		t.Errorf("after absent: %s", got)
	}
	if got := run("systemctl is-enabled " + unitName + " 2>/dev/null || :"); got != "" {
		t.Errorf("after absent the unit is %q", got)
	}
	if after := devices(); after != before {
		t.Errorf("zram devices %s before, %s after removal", before, after)
	}
}
