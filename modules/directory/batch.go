package directory

import (
	"bytes"
	"fmt"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

var _ resource.BatchProber = (*Directory)(nil)

// batchFuncs classify a path and check a directory's emptiness with shell
// builtins only, as Probe does: _pd sets l (link) and t (type), _pe sets e.
const batchFuncs = `_pd() { if [ -L "$1" ]; then l=1; else l=0; fi
if [ -d "$1" ]; then t=directory; elif [ -e "$1" ]; then t=other; else t=none; fi; }
_pe() { e=1; for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do if [ -e "$f" ] || [ -L "$f" ]; then e=0; break; fi; done; }
set +f
set --
`

// ProbeAll probes every directory of a host with one stat instead of one per
// directory. Its output is one "LINK TYPE [EMPTY]" line per directory, then
// for the directories wanted present that exist, stat records "NAME\0STAT\0"
// (NUL-terminated: a name may hold anything else). split rebuilds from it
// what each directory's own Probe would have printed.
func (d *Directory) ProbeAll(rs []resource.Resource) (string, func(resource.ProbeResult) ([]resource.ProbeResult, error)) {
	dirs := make([]*Directory, len(rs))
	for i, r := range rs {
		dirs[i] = r.(*Directory)
	}
	// Sized once: a host's probe script is held while it is in flight.
	quoted := make([]string, len(dirs))
	size := len(batchFuncs) + 128
	for i, x := range dirs {
		quoted[i] = shellescape.Quote(x.path)
		size += 112 + 2*len(quoted[i])
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(batchFuncs)
	for i, x := range dirs {
		q := quoted[i]
		if x.absent {
			// Probe looks inside only a real directory, never through a link.
			fmt.Fprintf(&b, "_pd %s; if [ $t = directory ] && [ $l = 0 ]; then _pe %s; echo \"$l $t $e\"; else echo \"$l $t\"; fi\n", q, q)
		} else {
			fmt.Fprintf(&b, "_pd %s; echo \"$l $t\"; if [ $t = directory ]; then set -- \"$@\" %s; fi\n", q, q)
		}
	}
	// Last, and its status ignored: a path stat cannot read (gone since the
	// test, a parent without search permission) simply has no record, which
	// split turns into Probe's error=stat.
	b.WriteString(`[ $# -eq 0 ] || stat -L --printf '%n\0%a %u %g %U %G\0' -- "$@" 2>/dev/null || :
`)
	return b.String(), func(out resource.ProbeResult) ([]resource.ProbeResult, error) {
		return splitBatch(dirs, out)
	}
}

func splitBatch(dirs []*Directory, out resource.ProbeResult) ([]resource.ProbeResult, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("batched directory probe failed with exit status %d", out.ExitCode)
	}
	rest := out.Stdout
	next := func(sep byte) ([]byte, bool) {
		i := bytes.IndexByte(rest, sep)
		if i < 0 {
			return nil, false
		}
		line := rest[:i]
		rest = rest[i+1:]
		return line, true
	}
	type entry struct {
		link     bool
		typ      string
		empty    string // "0", "1", or "" when not looked at
		stat     string
		haveStat bool
	}
	es := make([]entry, len(dirs))
	var existing []int // directories wanted present that are directories, in argument order
	for i, x := range dirs {
		line, ok := next('\n')
		fs := strings.Split(string(line), " ")
		if !ok || len(fs) < 2 || len(fs) > 3 || (fs[0] != "0" && fs[0] != "1") {
			return nil, fmt.Errorf("batched directory probe: malformed type line %q for %s", line, x.path)
		}
		e := &es[i]
		e.link, e.typ = fs[0] == "1", fs[1]
		switch e.typ {
		case "directory", "other", "none":
		default:
			return nil, fmt.Errorf("batched directory probe: malformed type line %q for %s", line, x.path)
		}
		// The emptiness is there exactly when Probe would have looked.
		wantEmpty := x.absent && e.typ == "directory" && !e.link
		if wantEmpty != (len(fs) == 3) || (wantEmpty && fs[2] != "0" && fs[2] != "1") {
			return nil, fmt.Errorf("batched directory probe: malformed type line %q for %s", line, x.path)
		}
		if wantEmpty {
			e.empty = fs[2]
		}
		if !x.absent && e.typ == "directory" {
			existing = append(existing, i)
		}
	}
	// stat skips what it cannot read; its records are matched to the
	// directories in order, by name.
	k := 0
	for len(rest) > 0 {
		name, ok := next(0)
		if !ok {
			return nil, fmt.Errorf("batched directory probe: stat record cut short")
		}
		st, ok := next(0)
		if !ok {
			return nil, fmt.Errorf("batched directory probe: stat record for %q cut short", name)
		}
		for k < len(existing) && dirs[existing[k]].path != string(name) {
			k++
		}
		if k == len(existing) {
			return nil, fmt.Errorf("batched directory probe: stat record for unexpected path %q", name)
		}
		es[existing[k]].stat, es[existing[k]].haveStat = string(st), true
		k++
	}

	res := make([]resource.ProbeResult, len(dirs))
	for i, x := range dirs {
		e := es[i]
		var b bytes.Buffer
		if e.link {
			b.WriteString("link=1\n")
		}
		fmt.Fprintf(&b, "type=%s\n", e.typ)
		switch {
		case e.typ != "directory":
		case x.absent:
			if e.empty != "" {
				fmt.Fprintf(&b, "empty=%s\n", e.empty)
			}
		case !e.haveStat:
			b.WriteString("error=stat\n")
			res[i].ExitCode = 1
		default:
			fmt.Fprintf(&b, "stat=%s\n", e.stat)
		}
		res[i].Stdout = b.Bytes()
	}
	return res, nil
}
