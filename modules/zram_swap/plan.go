package zramswap

import (
	"fmt"
	"strings"

	"github.com/aymanbagabas/go-udiff"

	"github.com/pinery/pinery/engine/resource"
)

// Private is what Apply needs from the plan.
type Private struct {
	Write   bool `json:"write,omitempty"`   // the unit and the script
	Enable  bool `json:"enable,omitempty"`  // systemctl enable
	Restart bool `json:"restart,omitempty"` // (re)start the unit
	Remove  bool `json:"remove,omitempty"`  // stop, disable, remove both files
}

// Plan compares the probed files and swap with the wanted ones.
func (z *ZramSwap) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("zram_swap: probe failed with exit status %d", out.ExitCode)
	}
	p, err := parseProbe(out.Stdout)
	if err != nil {
		return nil, fmt.Errorf("zram_swap: %w", err)
	}
	live := p.active == "active" && p.dev != "" && p.inSwaps
	if z.absent {
		return z.planAbsent(p, live), nil
	}
	if p.unitOther {
		return nil, fmt.Errorf("%s exists but is not a regular file (a masked unit links to /dev/null); unmask or remove it first", unitPath)
	}
	if p.scriptOther {
		return nil, fmt.Errorf("%s exists but is not a regular file; remove it first", scriptPath)
	}
	want := z.size.want(p.memKB, p.page)
	if want > 2*p.memKB*1024 {
		return nil, fmt.Errorf("zram_swap: size %s is more than twice this host's RAM (%s); use a percentage, like \"50%%\"", z.size.text, mib(p.memKB*1024))
	}
	algo, algoWhy := z.algorithmFor(p.offered)
	if algo == "" && p.offered != nil {
		return nil, fmt.Errorf("zram_swap: the kernel offers none of %s (it offers %s); choose one of those", strings.Join(z.algos, ", "), strings.Join(p.offered, " "))
	}

	d := &resource.Diff{Action: resource.Update}
	priv := &Private{}
	unit := z.unit()
	if !p.unitFile || string(p.unit) != unit {
		priv.Write = true
		d.Changes = append(d.Changes, fileChange("unit", unitPath, p.unitFile, p.unit, unit))
		d.TextDiff += fileDiff(unitPath, p.unitFile, p.unit, unit)
	}
	if !p.scriptFile || string(p.script) != script {
		priv.Write = true
		d.Changes = append(d.Changes, fileChange("script", scriptPath, p.scriptFile, p.script, script))
		d.TextDiff += fileDiff(scriptPath, p.scriptFile, p.script, script)
	} else if p.scriptStat != "755 0 0" {
		priv.Write = true
		d.Changes = append(d.Changes, resource.Change{Field: "script mode, owner", Old: p.scriptStat, New: "755 0 0"})
	}
	if p.enabled != "enabled" {
		priv.Enable = true
		d.Changes = append(d.Changes, resource.Change{Field: "enabled", Old: orNone(p.enabled), New: "enabled"})
	}

	sizeNew := mib(want)
	if z.size.percent > 0 {
		sizeNew += fmt.Sprintf(" (%d%% of %s RAM)", z.size.percent, mib(p.memKB*1024))
	}
	if !live {
		old := "none"
		if p.active != "" && p.active != "inactive" {
			old = "none (unit " + p.active + ")"
		}
		d.Changes = append(d.Changes,
			resource.Change{Field: "swap", Old: old, New: "on a zram device"},
			resource.Change{Field: "size", New: sizeNew},
			resource.Change{Field: "algorithm", New: algoWhy},
			resource.Change{Field: "priority", New: fmt.Sprint(z.priority)})
		priv.Restart = true
	} else {
		if p.disksize != want {
			old, nw := mib(p.disksize), sizeNew
			if old == mib(want) {
				old, nw = fmt.Sprintf("%d bytes", p.disksize), fmt.Sprintf("%d bytes", want)
			}
			d.Changes = append(d.Changes, resource.Change{Field: "size", Old: old, New: nw})
			priv.Restart = true
		}
		if p.algorithm != algo {
			d.Changes = append(d.Changes, resource.Change{Field: "algorithm", Old: p.algorithm, New: algoWhy})
			priv.Restart = true
		}
		if p.swapPrio != z.priority {
			d.Changes = append(d.Changes, resource.Change{Field: "priority", Old: fmt.Sprint(p.swapPrio), New: fmt.Sprint(z.priority)})
			priv.Restart = true
		}
		// New files take effect only at the next start.
		priv.Restart = priv.Restart || priv.Write
	}
	if len(d.Changes) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	if !p.unitFile && !p.scriptFile && !live {
		d.Action = resource.Create
	}
	d.Private = priv
	return d, nil
}

func (z *ZramSwap) planAbsent(p *probe, live bool) *resource.Diff {
	var old []string
	if live {
		old = append(old, fmt.Sprintf("swap on /dev/%s (%s, %s)", p.dev, mib(p.disksize), p.algorithm))
	}
	if p.unitFile || p.unitOther {
		old = append(old, unitPath)
	}
	if p.scriptFile || p.scriptOther {
		old = append(old, scriptPath)
	}
	if len(old) == 0 && (p.enabled == "" || p.enabled == "not-found") {
		return &resource.Diff{Action: resource.NoOp}
	}
	if len(old) == 0 {
		old = append(old, "unit "+p.enabled)
	}
	return &resource.Diff{Action: resource.Delete,
		Changes: []resource.Change{{Field: "state", Old: strings.Join(old, ", "), New: "absent"}},
		Private: &Private{Remove: true}}
}

// algorithmFor returns the algorithm the script will choose and how the
// plan says it. offered is nil when no zram device exists to ask.
func (z *ZramSwap) algorithmFor(offered []string) (algo, why string) {
	if offered == nil {
		if len(z.algos) == 1 {
			return "", z.algos[0] + " (the kernel's offer is known after apply)"
		}
		return "", fmt.Sprintf("%s, else the first of %s the kernel offers (known after apply)", z.algos[0], strings.Join(z.algos[1:], ", "))
	}
	algo = z.choose(offered)
	if algo == z.algos[0] {
		return algo, algo
	}
	return algo, fmt.Sprintf("%s (%s is not offered by this kernel, which offers %s)", algo, z.algos[0], strings.Join(offered, " "))
}

func fileChange(field, path string, had bool, old []byte, new string) resource.Change {
	c := resource.Change{Field: field, New: fmt.Sprintf("%s (%d bytes)", path, len(new))}
	if had {
		c.Old = fmt.Sprintf("%d bytes", len(old))
	}
	return c
}

func fileDiff(path string, had bool, old []byte, new string) string {
	from := path
	if !had {
		from = "/dev/null"
	}
	return udiff.Unified(from, path, string(old), new)
}

func mib(b int64) string {
	if b%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", b>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func orNone(s string) string {
	if s == "" {
		return "not-found"
	}
	return s
}
