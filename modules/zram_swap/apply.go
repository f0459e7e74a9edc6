package zramswap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// Exit statuses of the apply script.
const (
	exitWrite    = 3 // a file could not be written
	exitChecksum = 4
	exitReload   = 5
	exitEnable   = 6
	exitStart    = 7 // the unit failed: status=, virt= and log= lines follow
	exitStop     = 8
)

// startErrors explains the exit statuses of pinery-zram-swap start.
var startErrors = map[int]string{
	10: "the kernel has no zram device support (no /sys/class/zram-control, and modprobe zram failed or is not installed)",
	11: "/sys is read-only here, so no zram device can be set up",
	12: "the kernel offers none of the algorithms asked for",
	13: "the kernel refused to add or configure a zram device",
	14: "the zram device node did not appear in /dev (is udev running?)",
	15: "mkswap failed on the zram device",
	16: "the kernel refused swapon on the zram device",
}

// Apply writes the files, enables and (re)starts the unit, or removes it
// all, as the plan says.
func (z *ZramSwap) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("zram_swap: the plan carries no zram_swap changes (was it made by this version of pinery?)")
	}
	var b strings.Builder
	var stdin strings.Builder
	q := shellescape.Quote(unitName)
	if priv.Remove {
		fmt.Fprintf(&b, `if [ -e %s ]; then systemctl disable --now --quiet -- %s || exit %d; fi
rm -f -- %s %s || exit %d
systemctl daemon-reload || exit %d
`, unitPath, q, exitStop, unitPath, scriptPath, exitWrite, exitReload)
		return z.result(ctx, h, b.String(), "")
	}
	if priv.Write {
		u := z.unit()
		b.WriteString(writeScript(scriptPath, script, "0755"))
		b.WriteString(writeScript(unitPath, u, "0644"))
		stdin.WriteString(script)
		stdin.WriteString(u)
		fmt.Fprintf(&b, "systemctl daemon-reload || exit %d\n", exitReload)
	}
	if priv.Enable {
		fmt.Fprintf(&b, "systemctl enable --quiet -- %s || exit %d\n", q, exitEnable)
	}
	if priv.Restart {
		fmt.Fprintf(&b, `if ! systemctl restart -- %s 2>/dev/null; then
  echo "status=$(systemctl show -p ExecMainStatus --value -- %s 2>/dev/null)"
  echo "virt=$(systemd-detect-virt --container 2>/dev/null)"
  i=$(systemctl show -p InvocationID --value -- %s 2>/dev/null)
  if [ -n "$i" ]; then set -- "_SYSTEMD_INVOCATION_ID=$i"; else set -- -u %s; fi
  journalctl -b -n 20 --no-pager -q -o cat "$@" 2>/dev/null | while IFS= read -r l; do
    case $l in pinery-zram-swap:*) echo "log=$l" ;; esac
  done
  exit %d
fi
`, q, q, q, q, exitStart)
	}
	return z.result(ctx, h, b.String(), stdin.String())
}

// writeScript writes one file of the stdin stream atomically: a temporary
// file in the same directory, checked, owned by root, its mode set, synced,
// then renamed over path.
func writeScript(p, content, mode string) string {
	sum := sha256.Sum256([]byte(content))
	return fmt.Sprintf(`d=%s
[ -d "$d" ] || mkdir -p -m 0755 -- "$d" || exit %[2]d
t=$(umask 077; mktemp -- "$d/.pinery-XXXXXXXXXX") || exit %[2]d
trap 'rm -f -- "$t"' EXIT
head -c %[3]d >"$t" || exit %[2]d
h=$(sha256sum <"$t") || exit %[2]d
[ "${h%%%% *}" = %[4]s ] || exit %[5]d
chown 0:0 "$t" && chmod %[6]s "$t" && sync -- "$t" || exit %[2]d
mv -f -T -- "$t" %[7]s || exit %[2]d
trap - EXIT
sync -- "$d" 2>/dev/null || :
`, shellescape.Quote(path.Dir(p)), exitWrite, len(content), hex.EncodeToString(sum[:]), exitChecksum, mode, shellescape.Quote(p))
}

func (z *ZramSwap) result(ctx context.Context, h resource.Runner, cmd, stdin string) error {
	res, err := h.Run(ctx, cmd, strings.NewReader(stdin))
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case exitChecksum:
		return fmt.Errorf("zram_swap: a file arrived incomplete (checksum mismatch); nothing was replaced")
	case exitStart:
		return startError(string(res.Stdout))
	case exitStop:
		return res.Err("zram_swap: stopping " + unitName + " (swapoff needs enough free RAM to take the swapped pages back)")
	case exitEnable:
		return res.Err("zram_swap: enabling " + unitName)
	case exitReload:
		return res.Err("zram_swap: systemctl daemon-reload")
	}
	return res.Err("zram_swap: writing " + unitPath + " and " + scriptPath)
}

// startError explains why the unit failed to start, from the lines the
// apply script printed: the script's exit status, the container kind, and
// the script's own log lines.
func startError(out string) error {
	var status, virt string
	var logs []string
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "status":
			status = v
		case "virt":
			virt = v
		case "log":
			logs = append(logs, v)
		}
	}
	var code int
	fmt.Sscan(status, &code)
	why, ok := startErrors[code]
	if !ok {
		why = fmt.Sprintf("the unit failed with exit status %s", orNone(status))
	}
	if code == 11 && virt != "" && virt != "none" {
		why += fmt.Sprintf(" (this host is a %s container: it shares its host's kernel, so set up zram swap on the host)", virt)
	}
	msg := "zram_swap: " + unitName + " did not start: " + why
	if len(logs) > 0 {
		msg += "\nlast log lines of the unit:\n  " + strings.Join(logs, "\n  ")
	}
	msg += "\nthe unit and the script are in place; fix the cause and apply again"
	return fmt.Errorf("%s", msg)
}
