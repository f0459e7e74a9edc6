package zramswap

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// probeScript prints, one key=value per line (every key optional):
//
//	unit=BASE64 | unit_type=other     the unit file (other: not a regular file)
//	script=BASE64 | script_type=other
//	script_stat=MODE UID GID
//	enabled=STATE active=STATE        systemctl is-enabled / is-active
//	mem_kb=N page=N                   MemTotal, page size
//	dev=zramN                         the device the unit set up
//	disksize=N algorithm=NAME         that device's size and algorithm
//	offered=NAME...                   the algorithms the kernel offers
//	swap=PRIORITY                     the device is in /proc/swaps
//
// It never reads zram-control/hot_add: a read adds a device.
const probeScript = `u=` + unitPath + ` s=` + scriptPath + `
for k in unit script; do
  p=$u; [ "$k" = script ] && p=$s
  if [ -f "$p" ] && [ ! -L "$p" ]; then printf '%s=' "$k"; base64 -w0 <"$p" 2>/dev/null; echo
  elif [ -e "$p" ] || [ -L "$p" ]; then echo "${k}_type=other"
  fi
done
[ -f "$s" ] && echo "script_stat=$(stat -c '%a %u %g' -- "$s" 2>/dev/null)"
echo "enabled=$(systemctl is-enabled -- ` + unitName + ` 2>/dev/null)"
echo "active=$(systemctl is-active -- ` + unitName + ` 2>/dev/null)"
while read -r k v _; do [ "$k" = MemTotal: ] && echo "mem_kb=$v" && break; done </proc/meminfo
echo "page=$(getconf PAGESIZE 2>/dev/null)"
d=
[ -r ` + stateFile + ` ] && read -r d <` + stateFile + ` 2>/dev/null
case $d in zram[0-9]*) ;; *) d= ;; esac
if [ -n "$d" ] && [ -r "/sys/block/$d/disksize" ]; then
  echo "dev=$d"
  echo "disksize=$(cat "/sys/block/$d/disksize" 2>/dev/null)"
  a=$(cat "/sys/block/$d/comp_algorithm" 2>/dev/null)
  a=${a#*[}; echo "algorithm=${a%%]*}"
  while read -r n _ _ _ p; do [ "$n" = "/dev/$d" ] && echo "swap=$p" && break; done </proc/swaps
fi
for f in /sys/block/zram*/comp_algorithm; do
  [ -r "$f" ] && echo "offered=$(tr -d '[]' <"$f" 2>/dev/null)" && break
done
:
`

// Probe reads the unit, the script and the live swap.
func (z *ZramSwap) Probe() string { return probeScript }

// probe is the parsed output of the probe.
type probe struct {
	unit, script         []byte
	unitFile, scriptFile bool // a regular file is there
	unitOther            bool // something else is at the unit's path
	scriptOther          bool
	scriptStat           string
	enabled, active      string
	memKB, page          int64
	dev                  string
	disksize             int64
	algorithm            string
	offered              []string
	inSwaps              bool
	swapPrio             int64
}

func parseProbe(out []byte) (*probe, error) {
	p := &probe{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		var err error
		switch k {
		case "unit":
			p.unit, err = base64.StdEncoding.DecodeString(v)
			p.unitFile = true
		case "script":
			p.script, err = base64.StdEncoding.DecodeString(v)
			p.scriptFile = true
		case "unit_type":
			p.unitOther = true
		case "script_type":
			p.scriptOther = true
		case "script_stat":
			p.scriptStat = v
		case "enabled":
			p.enabled = v
		case "active":
			p.active = v
		case "mem_kb":
			p.memKB, err = positive(v)
		case "page":
			if v != "" {
				p.page, err = positive(v)
			}
		case "dev":
			p.dev = v
		case "disksize":
			p.disksize, err = strconv.ParseInt(v, 10, 64)
		case "algorithm":
			p.algorithm = v
		case "offered":
			if f := strings.Fields(v); len(f) > 0 {
				p.offered = f
			}
		case "swap":
			p.inSwaps = true
			p.swapPrio, err = strconv.ParseInt(v, 10, 64)
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", trunc(line))
		}
		if err != nil {
			return nil, fmt.Errorf("malformed %s in probe output: %v", k, err)
		}
	}
	if p.memKB == 0 {
		return nil, fmt.Errorf("the probe found no MemTotal in /proc/meminfo")
	}
	return p, nil
}

func positive(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil && n <= 0 {
		err = fmt.Errorf("%d is not positive", n)
	}
	return n, err
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
