// Package zramswap is the `zram_swap` resource type: swap on compressed RAM,
// set up at every boot by a systemd unit pinery writes, without the
// zram-tools package.
package zramswap

import (
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// The files the resource manages. The unit runs the script, which is the
// same for every configuration: the unit's command line carries the values.
const (
	unitName   = "pinery-zram-swap.service"
	unitPath   = "/etc/systemd/system/" + unitName
	scriptPath = "/usr/local/sbin/pinery-zram-swap"
	// stateFile is where the script records the device it set up.
	stateFile = "/run/pinery-zram-swap"
)

//go:embed pinery-zram-swap.sh
var script string

const doc = `Sets up swap on a zram device: a block device in RAM whose pages are compressed, so
that rarely used memory takes a half or a third of the room. It is the usual answer
for boards without a local disk worth swapping to: root on NFS or iSCSI (swap over the
network is slow and can deadlock), or eMMC and SD cards that wear out.

**How.** No package is needed (not zram-tools, not systemd-zram-generator). pinery
writes a small POSIX sh script, ` + "`" + scriptPath + "`" + `, and a unit,
` + "`" + unitPath + "`" + ` (oneshot, kept active after it ran, wanted by
` + "`swap.target`" + `), enables it and (re)starts it, so the swap comes back at every
boot. The unit's command line holds the size, the algorithms and the priority. On start
the script loads the ` + "`zram`" + ` module when needed, adds a device of its own
(` + "`/sys/class/zram-control/hot_add`" + `, so ` + "`zram0`" + ` stays free for other tools),
sets its algorithm and size, runs ` + "`mkswap`" + ` and ` + "`swapon -p`" + `. On stop it turns
the swap off and removes the device. Both files are written atomically (temporary file in
the same directory, checked against its SHA-256, owner root, mode set, then renamed).

**Size.** A percentage of the board's RAM (` + "`MemTotal`" + `), computed at every boot, so
one setting follows every board of a fleet, or a fixed size with a K, M or G suffix
(powers of 1024). It is the uncompressed size the swap can hold; the RAM it takes is
that divided by the compression ratio (often 2 to 3). More than twice the RAM is refused.

**Algorithm.** ` + "`algorithm`" + ` is used when the kernel offers it; otherwise the first of
` + "`fallback`" + ` it offers. This is never silent: when the kernel's list is known (a zram
device exists), the plan says which algorithm will be used and why; the script logs a
fallback in the unit's journal. With ` + "`fallback = []`" + ` an algorithm the kernel lacks
is an error.

**Plan.** The probe reads both files, whether the unit is enabled and active, the
device the unit set up (from ` + "`" + stateFile + "`" + `) in ` + "`/proc/swaps`" + ` and
` + "`/sys/block/zramN`" + ` (size, algorithm, priority), and the RAM size. The plan shows a
diff of the files and each live value that differs. Any difference restarts the unit.
Restarting turns the old swap off first: its pages move back to RAM, which fails when
there is not enough free memory (the apply then fails and says so).

**Failures** are explained: the unit's exit status says what the kernel refused, such as
"the kernel has no zram device support (no /sys/class/zram-control)", or "/sys is
read-only here", which is what a container (systemd-nspawn, LXC, Docker) gets: it shares
its host's kernel and cannot set up swap; declare the resource for the machine that owns
the kernel. The files stay written and the unit enabled, so the next plan shows the swap
still missing.

**One per host**: every ` + "`zram_swap`" + ` manages the same unit. ` + "`state = \"absent\"`" + `
stops the unit (turning the swap off), disables it and removes both files. Swap set up by
other tools (zram-tools' ` + "`zramswap.service`" + `, ` + "`/etc/fstab`" + `) is neither read nor touched.`

const example = `# Half the RAM of each board, zstd where the kernel has it.
zram_swap "ram" {
  size = "50%"
}

# A fixed size, lz4 only (no fallback), tried before other swap.
zram_swap "fast" {
  size      = "768M"
  algorithm = "lz4"
  fallback  = []
  priority  = 200
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "zram_swap",
		Summary: "Swap on compressed RAM (zram), set up at boot by a unit pinery writes; no package needed.",
		Doc:     doc,
		Example: example,
		Fields: []resource.Field{
			{Name: "size", Type: cty.String, Default: cty.StringVal("50%"),
				Doc: "How much the swap holds, uncompressed: a percentage of the RAM (`\"50%\"`, 1 to 200, computed at every boot) or a size with a K, M or G suffix (`\"512M\"`, `\"2G\"`; at least 1M)."},
			{Name: "algorithm", Type: cty.String, Default: cty.StringVal("zstd"),
				Doc: "The compression algorithm wanted: `\"zstd\"` (best ratio), `\"lz4\"` (fastest), `\"lzo-rle\"`, `\"lzo\"`, `\"lz4hc\"`, `\"842\"`, `\"deflate\"`, as the kernel names them."},
			{Name: "fallback", Type: cty.List(cty.String), Default: cty.ListVal([]cty.Value{cty.StringVal("lz4"), cty.StringVal("lzo-rle"), cty.StringVal("lzo")}),
				Doc: "Algorithms to use, in order, when the kernel does not offer `algorithm`. The plan says which one is used. `[]` makes a missing `algorithm` an error."},
			{Name: "priority", Type: cty.Number, Default: resource.Num(100),
				Doc: "The swap priority (0 to 32767): the kernel uses higher priorities first, so the default 100 puts zram before a disk swap file (whose default is negative)."},
			{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
				Doc: "`\"present\"` or `\"absent\"`. Absent turns the swap off, disables the unit and removes the unit and the script."},
		},
		New: New,
	})
}

// ZramSwap is the configured zram swap of one host.
type ZramSwap struct {
	absent   bool
	size     size
	algos    []string // algorithm then the fallbacks, without repeats
	priority int64
}

var _ resource.Resource = (*ZramSwap)(nil)

var (
	sizeRE = regexp.MustCompile(`^([0-9]{1,9})(%|K|M|G)$`)
	algoRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// size is a percentage of MemTotal or a number of bytes.
type size struct {
	text    string // as written, for the unit's command line
	percent int64
	bytes   int64
}

// maxBytes bounds a fixed size (1 TiB), far above any board, so the
// script's arithmetic cannot overflow.
const maxBytes = 1 << 40

func parseSize(s string) (size, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return size{}, fmt.Errorf("%q is not a size: write a percentage of the RAM like \"50%%\", or a size like \"512M\" or \"2G\" (K, M, G are powers of 1024)", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	sz := size{text: s}
	switch m[2] {
	case "%":
		if n < 1 || n > 200 {
			return size{}, fmt.Errorf("%q: a percentage of the RAM must be 1%% to 200%%", s)
		}
		sz.percent = n
		return sz, nil
	case "K":
		sz.bytes = n << 10
	case "M":
		sz.bytes = n << 20
	case "G":
		sz.bytes = n << 30
	}
	switch {
	case sz.bytes < 1<<20:
		return size{}, fmt.Errorf("%q is too small for swap: at least 1M", s)
	case sz.bytes > maxBytes:
		return size{}, fmt.Errorf("%q is larger than 1 TiB; no board has the RAM to back it", s)
	}
	return sz, nil
}

// want is the device size the script sets on a host with memKB of RAM, as
// the kernel reports it back: rounded up to whole pages.
func (s size) want(memKB, page int64) int64 {
	b := s.bytes
	if s.percent > 0 {
		b = memKB * s.percent / 100 * 1024 // the script's arithmetic, exactly
	}
	if page > 0 {
		b = (b + page - 1) / page * page
	}
	return b
}

// New validates a zram_swap block.
func New(cfg resource.Config) (resource.Resource, error) {
	z := &ZramSwap{}
	switch st := cfg.String("state"); st {
	case "present", "":
	case "absent":
		z.absent = true
		return z, nil
	default:
		return nil, cfg.Errorf("state", "must be \"present\" or \"absent\", not %q", st)
	}
	var err error
	if z.size, err = parseSize(cfg.String("size")); err != nil {
		return nil, cfg.Errorf("size", "%v", err)
	}
	a := cfg.String("algorithm")
	if !algoRE.MatchString(a) {
		return nil, cfg.Errorf("algorithm", "%q is not an algorithm name: use the kernel's name, like \"zstd\", \"lz4\" or \"lzo-rle\"", a)
	}
	z.algos = []string{a}
	for _, f := range cfg.Strings("fallback") {
		if !algoRE.MatchString(f) {
			return nil, cfg.Errorf("fallback", "%q is not an algorithm name: use the kernel's names, like \"lz4\" or \"lzo-rle\"", f)
		}
		if !contains(z.algos, f) {
			z.algos = append(z.algos, f)
		}
	}
	z.priority = cfg.Int("priority")
	if v := cfg.Values["priority"]; v != cty.NilVal && !v.IsNull() && v.IsKnown() {
		if bf := v.AsBigFloat(); !bf.IsInt() {
			return nil, cfg.Errorf("priority", "must be a whole number, not %s", bf.Text('g', -1))
		}
	}
	if z.priority < 0 || z.priority > 32767 {
		return nil, cfg.Errorf("priority", "must be 0 to 32767 (swapon's range), not %d", z.priority)
	}
	return z, nil
}

// unit is the unit file for this configuration. systemd expands % in
// ExecStart=, hence %%; every other value was checked to need no quoting.
func (z *ZramSwap) unit() string {
	return fmt.Sprintf(`# Written by pinery (zram_swap); changes here are overwritten.
[Unit]
Description=Swap on compressed RAM (zram), set up by pinery
DefaultDependencies=no
After=systemd-modules-load.service local-fs.target
Before=swap.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%s start %s %s %d
ExecStop=%s stop

[Install]
WantedBy=swap.target
`, scriptPath, strings.ReplaceAll(z.size.text, "%", "%%"), strings.Join(z.algos, ","), z.priority, scriptPath)
}

// choose is the algorithm the script will pick from what the kernel offers,
// "" when it offers none of them.
func (z *ZramSwap) choose(offered []string) string {
	for _, a := range z.algos {
		if contains(offered, a) {
			return a
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
