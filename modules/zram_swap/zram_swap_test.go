package zramswap

import (
	"encoding/base64"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func TestNewRejects(t *testing.T) {
	for _, c := range []struct {
		vals  map[string]cty.Value
		field string
		msg   string
	}{
		{map[string]cty.Value{"size": str("half")}, "size", `"half" is not a size`},
		{map[string]cty.Value{"size": str("50")}, "size", `is not a size`},
		{map[string]cty.Value{"size": str("512MB")}, "size", `is not a size`},
		{map[string]cty.Value{"size": str("-5%")}, "size", `is not a size`},
		{map[string]cty.Value{"size": str("0%")}, "size", "1% to 200%"},
		{map[string]cty.Value{"size": str("201%")}, "size", "1% to 200%"},
		{map[string]cty.Value{"size": str("512K")}, "size", "at least 1M"},
		{map[string]cty.Value{"size": str("2048G")}, "size", "larger than 1 TiB"},
		{map[string]cty.Value{"algorithm": str("ZSTD")}, "algorithm", "not an algorithm name"},
		{map[string]cty.Value{"algorithm": str("zstd; reboot")}, "algorithm", "not an algorithm name"},
		{map[string]cty.Value{"fallback": strs("lz4", "lzo rle")}, "fallback", `"lzo rle" is not an algorithm name`},
		{map[string]cty.Value{"priority": num(-1)}, "priority", "0 to 32767"},
		{map[string]cty.Value{"priority": num(32768)}, "priority", "0 to 32767"},
		{map[string]cty.Value{"priority": cty.NumberFloatVal(1.5)}, "priority", "whole number"},
		{map[string]cty.Value{"state": str("off")}, "state", `"present" or "absent"`},
	} {
		_, err := New(resourcetestConfig(t, c.vals))
		var fe *resource.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("%v: got %v, want a %s error with %q", c.vals, err, c.field, c.msg)
		}
	}
}

func TestSizeWant(t *testing.T) {
	for _, c := range []struct {
		size        string
		memKB, page int64
		want        int64
	}{
		{"50%", 1024 * 1024, 4096, 512 << 20},
		{"512M", 1024 * 1024, 4096, 512 << 20},
		{"1G", 2048 * 1024, 4096, 1 << 30},
		{"1536K", 4096, 4096, 1536 << 10},
		// 3 of 7 kB... rounds to whole pages as the kernel does.
		{"25%", 3999999, 4096, (3999999*25/100*1024 + 4095) / 4096 * 4096},
		{"25%", 3999999, 65536, (3999999*25/100*1024 + 65535) / 65536 * 65536},
		{"200%", 1000, 0, 2000 * 1024},
	} {
		s, err := parseSize(c.size)
		if err != nil {
			t.Fatalf("%s: %v", c.size, err)
		}
		if got := s.want(c.memKB, c.page); got != c.want {
			t.Errorf("%s of %d kB, page %d: got %d, want %d", c.size, c.memKB, c.page, got, c.want)
		}
	}
}

func TestUnitGolden(t *testing.T) {
	golden(t, "default.service", newZram(t, nil).unit())
	golden(t, "fixed.service", newZram(t, map[string]cty.Value{
		"size": str("768M"), "algorithm": str("lz4"), "fallback": strs(), "priority": num(200),
	}).unit())
	// A fallback that repeats the algorithm is listed once.
	z := newZram(t, map[string]cty.Value{"algorithm": str("lz4"), "fallback": strs("zstd", "lz4", "zstd")})
	if got := strings.Join(z.algos, ","); got != "lz4,zstd" {
		t.Errorf("algos %q", got)
	}
}

// probeOut builds what the probe prints for a host.
type host struct {
	unit, script string // "" when missing
	scriptStat   string
	enabled      string
	active       string
	memKB        string
	dev          string
	disksize     string
	algorithm    string
	offered      string
	swap         string
}

func (h host) out() []byte {
	var b strings.Builder
	if h.unit != "" {
		b.WriteString("unit=" + base64.StdEncoding.EncodeToString([]byte(h.unit)) + "\n")
	}
	if h.script != "" {
		b.WriteString("script=" + base64.StdEncoding.EncodeToString([]byte(h.script)) + "\n")
		b.WriteString("script_stat=" + h.scriptStat + "\n")
	}
	b.WriteString("enabled=" + h.enabled + "\nactive=" + h.active + "\nmem_kb=" + h.memKB + "\npage=4096\n")
	if h.dev != "" {
		b.WriteString("dev=" + h.dev + "\ndisksize=" + h.disksize + "\nalgorithm=" + h.algorithm + "\n")
		if h.swap != "" {
			b.WriteString("swap=" + h.swap + "\n")
		}
	}
	if h.offered != "" {
		b.WriteString("offered=" + h.offered + "\n")
	}
	return []byte(b.String())
}

func TestPlan(t *testing.T) {
	def := newZram(t, nil)
	// A host where the default configuration runs: 1 GiB of RAM, lz4
	// because this kernel has no zstd.
	running := host{unit: def.unit(), script: script, scriptStat: "755 0 0", enabled: "enabled", active: "active",
		memKB: "1048576", dev: "zram1", disksize: "536870912", algorithm: "lz4", offered: "lzo-rle lzo lz4", swap: "100"}
	edit := func(f func(*host)) host { h := running; f(&h); return h }
	lzo := newZram(t, map[string]cty.Value{"algorithm": str("lzo-rle"), "priority": num(5)})

	for _, c := range []struct {
		name    string
		z       *ZramSwap
		h       host
		action  resource.Action
		changes string // field=old>new;...
		priv    Private
		err     string
	}{
		{name: "converged", z: def, h: running, action: resource.NoOp},
		{name: "fresh host, no zram device to ask", z: def,
			h:      host{enabled: "", active: "inactive", memKB: "2097152"},
			action: resource.Create,
			changes: "unit=>" + unitPath + " (" + itoa(len(def.unit())) + " bytes);script=>" + scriptPath + " (" + itoa(len(script)) + " bytes);" +
				"enabled=not-found>enabled;swap=none>on a zram device;size=>1024 MiB (50% of 2048 MiB RAM);" +
				"algorithm=>zstd, else the first of lz4, lzo-rle, lzo the kernel offers (known after apply);priority=>100",
			priv: Private{Write: true, Enable: true, Restart: true}},
		{name: "the kernel's offer known: the fallback is said", z: def,
			h:      edit(func(h *host) { h.dev, h.active = "", "failed" }),
			action: resource.Update,
			changes: "swap=none (unit failed)>on a zram device;size=>512 MiB (50% of 1024 MiB RAM);" +
				"algorithm=>lz4 (zstd is not offered by this kernel, which offers lzo-rle lzo lz4);priority=>100",
			priv: Private{Restart: true}},
		{name: "size follows the RAM", z: def,
			h:       edit(func(h *host) { h.memKB = "2097152" }),
			action:  resource.Update,
			changes: "size=512 MiB>1024 MiB (50% of 2048 MiB RAM)",
			priv:    Private{Restart: true}},
		{name: "priority and algorithm", z: lzo,
			h:       running,
			action:  resource.Update,
			changes: "unit=" + itoa(len(def.unit())) + " bytes>" + unitPath + " (" + itoa(len(lzo.unit())) + " bytes);algorithm=lz4>lzo-rle;priority=100>5",
			priv:    Private{Write: true, Restart: true}},
		{name: "script mode", z: def, h: edit(func(h *host) { h.scriptStat = "644 0 0" }),
			action: resource.Update, changes: "script mode, owner=644 0 0>755 0 0", priv: Private{Write: true, Restart: true}},
		{name: "disabled", z: def, h: edit(func(h *host) { h.enabled = "disabled" }),
			action: resource.Update, changes: "enabled=disabled>enabled", priv: Private{Enable: true}},
		{name: "swapped off by hand", z: def, h: edit(func(h *host) { h.swap = "" }),
			action:  resource.Update,
			changes: "swap=none (unit active)>on a zram device;size=>512 MiB (50% of 1024 MiB RAM);algorithm=>lz4 (zstd is not offered by this kernel, which offers lzo-rle lzo lz4);priority=>100",
			priv:    Private{Restart: true}},
		{name: "no fallback the kernel offers", z: newZram(t, map[string]cty.Value{"fallback": strs()}),
			h: edit(func(h *host) { h.unit = "" }), err: "offers none of zstd (it offers lzo-rle lzo lz4)"},
		{name: "too large for the board", z: newZram(t, map[string]cty.Value{"size": str("3G")}),
			h: running, err: "more than twice this host's RAM (1024 MiB)"},
		{name: "absent, running", z: newZram(t, map[string]cty.Value{"state": str("absent")}), h: running,
			action: resource.Delete, changes: "state=swap on /dev/zram1 (512 MiB, lz4), " + unitPath + ", " + scriptPath + ">absent",
			priv: Private{Remove: true}},
		{name: "absent, gone", z: newZram(t, map[string]cty.Value{"state": str("absent")}),
			h: host{enabled: "not-found", active: "inactive", memKB: "1048576"}, action: resource.NoOp},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := c.z.Plan(resource.ProbeResult{Stdout: c.h.out()})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want an error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != c.action {
				t.Errorf("action %v, want %v", d.Action, c.action)
			}
			var got []string
			for _, ch := range d.Changes {
				got = append(got, ch.Field+"="+ch.Old+">"+ch.New)
			}
			if g := strings.Join(got, ";"); g != c.changes {
				t.Errorf("changes\n got %s\nwant %s", g, c.changes)
			}
			if d.Action == resource.NoOp {
				return
			}
			if p, _ := d.Private.(*Private); p == nil || *p != c.priv {
				t.Errorf("private %+v, want %+v", d.Private, c.priv)
			}
		})
	}
}

func TestPlanTextDiff(t *testing.T) {
	old := newZram(t, nil)
	z := newZram(t, map[string]cty.Value{"size": str("25%")})
	h := host{unit: old.unit(), script: script, scriptStat: "755 0 0", enabled: "enabled", active: "inactive", memKB: "1048576"}
	d, err := z.Plan(resource.ProbeResult{Stdout: h.out()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.TextDiff, "-ExecStart=/usr/local/sbin/pinery-zram-swap start 50%% zstd,lz4,lzo-rle,lzo 100\n+ExecStart=/usr/local/sbin/pinery-zram-swap start 25%% ") {
		t.Errorf("diff:\n%s", d.TextDiff)
	}
}

func TestParseProbeRejects(t *testing.T) {
	for _, out := range []string{
		"enabled=enabled\n",                 // no MemTotal
		"mem_kb=x\n",                        // not a number
		"mem_kb=0\n",                        // not positive
		"mem_kb=1024\nunit=%%%\n",           // not base64
		"mem_kb=1024\nswap=high\n",          // priority
		"mem_kb=1024\nsomething new\n",      // no =
		"mem_kb=1024\nsurprise=1\n",         // unknown key
		"mem_kb=1024\ndisksize=12345678x\n", // size
	} {
		if _, err := parseProbe([]byte(out)); err == nil {
			t.Errorf("%q: no error", out)
		}
	}
}

func TestStartError(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"status=11\nvirt=systemd-nspawn\nlog=pinery-zram-swap: /sys is read-only here\n",
			"did not start: /sys is read-only here, so no zram device can be set up (this host is a systemd-nspawn container: it shares its host's kernel, so set up zram swap on the host)\nlast log lines of the unit:\n  pinery-zram-swap: /sys is read-only here\n"},
		{"status=10\nvirt=none\n", "did not start: the kernel has no zram device support (no /sys/class/zram-control"},
		{"status=16\nvirt=\n", "did not start: the kernel refused swapon on the zram device\nthe unit"},
		{"status=1\n", "did not start: the unit failed with exit status 1\n"},
		{"", "did not start: the unit failed with exit status not-found\n"},
	} {
		if err := startError(c.out); !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %q", c.out, err, c.want)
		}
	}
}

// The script and the probe are POSIX sh: dash (Debian's sh) and, when
// installed, bash --posix and busybox must accept them.
func TestShellSyntax(t *testing.T) {
	for _, sh := range [][]string{{"dash", "-n"}, {"bash", "--posix", "-n"}, {"busybox", "sh", "-n"}} {
		if _, err := exec.LookPath(sh[0]); err != nil {
			t.Logf("%s not installed", sh[0])
			continue
		}
		for name, text := range map[string]string{"script": script, "probe": probeScript, "apply": applyText(t)} {
			cmd := exec.Command(sh[0], sh[1:]...)
			cmd.Stdin = strings.NewReader(text)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", sh[0], name, err, out)
			}
		}
	}
}

func FuzzParseProbe(f *testing.F) {
	f.Add([]byte("mem_kb=1024\npage=4096\ndev=zram1\ndisksize=1\nalgorithm=lz4\nswap=5\noffered=lz4 zstd\n"))
	f.Add([]byte("unit=aGVsbG8=\nscript_type=other\n"))
	z := &ZramSwap{size: size{text: "50%", percent: 50}, algos: []string{"zstd", "lz4"}, priority: 100}
	f.Fuzz(func(t *testing.T, out []byte) {
		p, err := parseProbe(out)
		if err != nil {
			return
		}
		if p.memKB <= 0 {
			t.Fatalf("accepted MemTotal %d", p.memKB)
		}
		_, _ = z.Plan(resource.ProbeResult{Stdout: out})
	})
}
