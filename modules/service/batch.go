package service

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

var _ resource.BatchProber = (*Service)(nil)

// showProps are the properties Probe asks for.
const showProps = "-p LoadState -p ActiveState -p SubState -p UnitFileState"

// ProbeAll reads every service of a host with one systemctl show instead of
// one per unit. systemctl prints one block per unit, in argument order
// (duplicates and units not found included), separated by empty lines: its
// output is passed on as it is, and split cuts it into what each unit's own
// Probe would have printed.
//
// When systemctl fails (no systemd, a name it rejects, which stops it
// part-way) or prints anything but those properties, every unit's own Probe
// runs instead, framed by "\n#each I RC\n" after a first line "#each", so
// that each fails exactly as alone.
func (s *Service) ProbeAll(rs []resource.Resource) (string, func(resource.ProbeResult) ([]resource.ProbeResult, error)) {
	svcs := make([]*Service, len(rs))
	for i, r := range rs {
		svcs[i] = r.(*Service)
	}
	var b strings.Builder
	b.WriteString("nl='\n'\nif o=$(systemctl show " + showProps + " --")
	for _, x := range svcs {
		b.WriteString(" " + shellescape.Quote(x.unit))
	}
	// Probe sends stderr to stdout; a warning there must not pass for a
	// property, so every line is checked (builtins only).
	b.WriteString(` 2>&1); then
ok=1; r=$o$nl
while [ -n "$r" ]; do
l=${r%%"$nl"*}; r=${r#*"$nl"}
case $l in ''|LoadState=*|ActiveState=*|SubState=*|UnitFileState=*) ;; *) ok=0; break;; esac
done
if [ $ok = 1 ]; then printf '%s\n' "$o"; exit 0; fi
fi
echo '#each'
`)
	for i, x := range svcs {
		fmt.Fprintf(&b, "(\n%s\n) </dev/null; printf '\\n#each %d %%d\\n' $?\n", x.Probe(), i)
	}
	return b.String(), func(out resource.ProbeResult) ([]resource.ProbeResult, error) {
		return splitBatch(len(svcs), out)
	}
}

func splitBatch(n int, out resource.ProbeResult) ([]resource.ProbeResult, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("batched service probe failed with exit status %d", out.ExitCode)
	}
	if rest, ok := bytes.CutPrefix(out.Stdout, []byte("#each\n")); ok {
		return splitEach(n, rest)
	}
	text, ok := strings.CutSuffix(string(out.Stdout), "\n")
	if !ok {
		return nil, fmt.Errorf("batched service probe: output cut short")
	}
	blocks := strings.Split(text, "\n\n")
	if len(blocks) != n {
		return nil, fmt.Errorf("batched service probe: systemctl show printed %d units for %d services", len(blocks), n)
	}
	res := make([]resource.ProbeResult, n)
	for i, blk := range blocks {
		for _, l := range strings.Split(blk, "\n") {
			k, _, _ := strings.Cut(l, "=")
			switch k {
			case "LoadState", "ActiveState", "SubState", "UnitFileState":
			default:
				return nil, fmt.Errorf("batched service probe: unexpected line %q", l)
			}
		}
		res[i].Stdout = []byte(blk + "\n")
	}
	return res, nil
}

// splitEach reads the framed outputs of every service's own Probe.
func splitEach(n int, out []byte) ([]resource.ProbeResult, error) {
	res := make([]resource.ProbeResult, n)
	for i := range res {
		marker := []byte("\n#each " + strconv.Itoa(i) + " ")
		j := bytes.Index(out, marker)
		if j < 0 {
			return nil, fmt.Errorf("batched service probe: output of service %d missing", i)
		}
		body, rest := out[:j], out[j+len(marker):]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("batched service probe: output of service %d cut short", i)
		}
		rc, err := strconv.Atoi(string(rest[:nl]))
		if err != nil {
			return nil, fmt.Errorf("batched service probe: bad exit status %q for service %d", rest[:nl], i)
		}
		res[i] = resource.ProbeResult{Stdout: body, ExitCode: rc}
		out = rest[nl+1:]
	}
	if len(out) > 0 {
		return nil, fmt.Errorf("batched service probe: unexpected output after the last service")
	}
	return res, nil
}
