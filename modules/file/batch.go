package file

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/pinery/pinery/modules/internal/textdiff"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// batchFunc classifies one path without starting a process (test is a shell
// builtin) and prints "LINK TYPE".
const batchFunc = `_pt() { if [ -L "$1" ]; then l=1; else l=0; fi
if [ -d "$1" ]; then t=directory; elif [ ! -e "$1" ]; then t=none; elif [ -f "$1" ]; then t=file; else t=other; fi
echo "$l $t"; }
nl='
'
set --
`

// batchSums stats the regular files collected in "$@" and checksums them.
const batchSums = `[ $# -eq 0 ] || stat -L --printf '%a %u %g %s %U %G %n\0' -- "$@" 2>/dev/null
printf '\0'
sums=
[ $# -eq 0 ] || sums=$(sha256sum -- "$@" 2>/dev/null)
[ -z "$sums" ] || printf '%s\n' "$sums"
echo --
sums="$nl$sums$nl"
`

// ProbeAll probes every file of a host with one stat and one sha256sum, as
// the OpenSSH floor of the benchmark does, instead of two processes per file.
// Its output has four sections: one "LINK TYPE" line per file; stat records
// for the regular files wanted present, NUL-terminated and ended by an empty
// record; their sha256sum lines and a "--" line; then, for files whose
// checksum differs and whose content may be shown, "C INDEX" and the first
// maxDiff+1 bytes in base64. split rebuilds from it what each file's own
// Probe would have printed, so Plan reads both the same way.
func (f *File) ProbeAll(rs []resource.Resource) (string, func(resource.ProbeResult) ([]resource.ProbeResult, error)) {
	files := make([]*File, len(rs))
	for i, r := range rs {
		files[i] = r.(*File)
	}
	// Sized once: a host's probe script is held while it is in flight, and
	// a builder grown by doubling holds up to twice its length.
	quoted := make([]string, len(files))
	size := len(batchFunc) + len(batchSums)
	for i, x := range files {
		quoted[i] = shellescape.Quote(x.path)
		size += 48 + 2*len(quoted[i])
		if !x.absent && !x.sensitive {
			size += 128 + 3*len(quoted[i]) + len(x.sum)
		}
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(batchFunc)
	for i, x := range files {
		q := quoted[i]
		if x.absent {
			fmt.Fprintf(&b, "_pt %s\n", q)
		} else {
			fmt.Fprintf(&b, "_pt %s; [ $t = file ] && set -- \"$@\" %s\n", q, q)
		}
	}
	b.WriteString(batchSums)
	for i, x := range files {
		if x.absent || x.sensitive || !textdiff.IsTextString(x.content) {
			continue
		}
		q := quoted[i]
		fmt.Fprintf(&b, "case \"$sums\" in *\"${nl}%s  \"%s\"$nl\"*) ;; *) if [ -f %s ]; then echo 'C %d'; head -c %d %s | base64; fi;; esac\n",
			x.sum, q, q, i, maxDiff+1, q)
	}
	return b.String(), func(out resource.ProbeResult) ([]resource.ProbeResult, error) {
		return splitBatch(files, out)
	}
}

func splitBatch(files []*File, out resource.ProbeResult) ([]resource.ProbeResult, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("batched file probe failed with exit status %d", out.ExitCode)
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
		link    bool
		typ     string
		stat    string
		sum     string
		content []byte
	}
	es := make([]entry, len(files))
	var regular []int // files wanted present that are regular files, in argument order
	for i, x := range files {
		line, ok := next('\n')
		l, t, ok2 := strings.Cut(string(line), " ")
		if !ok || !ok2 || (l != "0" && l != "1") {
			return nil, fmt.Errorf("batched file probe: malformed type line %q for %s", line, x.path)
		}
		es[i].link, es[i].typ = l == "1", t
		if t == "file" && !x.absent {
			regular = append(regular, i)
		}
	}
	// stat and sha256sum skip what they cannot read; their records are
	// matched to the files in order, by name.
	k := 0
	for {
		rec, ok := next(0)
		if !ok {
			return nil, fmt.Errorf("batched file probe: stat section not terminated")
		}
		if len(rec) == 0 {
			break
		}
		fs := strings.SplitN(string(rec), " ", 7)
		if len(fs) != 7 {
			return nil, fmt.Errorf("batched file probe: malformed stat record %q", rec)
		}
		for k < len(regular) && files[regular[k]].path != fs[6] {
			k++
		}
		if k == len(regular) {
			return nil, fmt.Errorf("batched file probe: stat record for unexpected path %q", fs[6])
		}
		es[regular[k]].stat = strings.Join(fs[:6], " ")
		k++
	}
	k = 0
	for {
		line, ok := next('\n')
		if !ok {
			return nil, fmt.Errorf("batched file probe: checksum section not terminated")
		}
		if string(line) == "--" {
			break
		}
		sum, name, ok := parseSumLine(string(line))
		if !ok {
			return nil, fmt.Errorf("batched file probe: malformed checksum line %q", line)
		}
		for k < len(regular) && files[regular[k]].path != name {
			k++
		}
		if k == len(regular) {
			return nil, fmt.Errorf("batched file probe: checksum for unexpected path %q", name)
		}
		es[regular[k]].sum = sum
		k++
	}
	// Content sections: "C INDEX" then base64 lines (whose alphabet has no space).
	cur := -1
	for len(rest) > 0 {
		line, ok := next('\n')
		if !ok {
			line, rest = rest, nil
		}
		if n, found := strings.CutPrefix(string(line), "C "); found {
			i, err := strconv.Atoi(n)
			if err != nil || i < 0 || i >= len(files) {
				return nil, fmt.Errorf("batched file probe: malformed content header %q", line)
			}
			cur = i
			continue
		}
		if cur < 0 {
			return nil, fmt.Errorf("batched file probe: unexpected output %q", line)
		}
		es[cur].content = append(append(es[cur].content, line...), '\n')
	}

	res := make([]resource.ProbeResult, len(files))
	for i, x := range files {
		e := es[i]
		var b bytes.Buffer
		if e.link {
			b.WriteString("link=1\n")
		}
		fmt.Fprintf(&b, "type=%s\n", e.typ)
		if e.typ == "file" && !x.absent {
			switch {
			case e.stat == "":
				b.WriteString("error=stat\n")
				res[i].ExitCode = 1
			case e.sum == "":
				fmt.Fprintf(&b, "stat=%s\nerror=read\n", e.stat)
				res[i].ExitCode = 1
			default:
				fmt.Fprintf(&b, "stat=%s\nsha256=%s\n", e.stat, e.sum)
				size, _ := strconv.ParseInt(strings.Fields(e.stat)[3], 10, 64)
				if e.content != nil && e.sum != x.sum && size <= maxDiff {
					b.WriteString("base64=\n")
					b.Write(e.content)
				}
			}
		}
		res[i].Stdout = b.Bytes()
	}
	return res, nil
}

// parseSumLine reads one line of sha256sum's output: "HASH  NAME", or
// "\HASH  NAME" with backslashes and newlines in NAME escaped.
func parseSumLine(line string) (sum, name string, ok bool) {
	escaped := strings.HasPrefix(line, `\`)
	if escaped {
		line = line[1:]
	}
	sum, name, ok = strings.Cut(line, "  ")
	if !ok || len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		return "", "", false
	}
	if escaped {
		name = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(name)
	}
	return sum, name, true
}
