package pkg

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

var _ resource.BatchProber = (*Package)(nil)

// ProbeAll probes every package of a host with one dpkg-query, one
// apt-cache policy (when any package needs apt's view) and one lists check
// per distinct cache_valid_time, instead of one of each per package. Its
// output, in order:
//
//	NAME ARCH SSS|VERSION|      dpkg-query's lines, in dpkg's order
//	#dpkg-end
//	#want I                     package I (index in rs) needs apt's view
//	#policy                     apt-cache policy over those names ...
//	#policy-end RC
//	#policy-of NAME             ... or over one: a name sharing its package
//	#policy-end RC              with another, or each when the batch failed
//	#lists SECS                 the lists check for cache_valid_time SECS
//	#lists-end RC
//
// When dpkg-query fails for another reason than unknown names (exit status
// 2 or more) every package's own Probe runs instead, framed by "\n#each I
// RC\n" after a first line "#each": they then fail exactly as alone.
// split rebuilds from it what each package's own Probe would have printed.
func (p *Package) ProbeAll(rs []resource.Resource) (string, func(resource.ProbeResult) ([]resource.ProbeResult, error)) {
	pkgs := make([]*Package, len(rs))
	for i, r := range rs {
		pkgs[i] = r.(*Package)
	}
	q := shellescape.Quote
	// apt-cache policy prints nothing for an unknown name and one block per
	// known one, headed by the package's name (with :ARCH when foreign), so
	// blocks are told apart by package name. Names sharing a package name
	// ("libc6", "libc6:i386") cannot be, and are asked about one by one.
	fulls := map[string][]string{} // names that may need apt's view, by package name
	var names []string             // distinct names, in order
	seen := map[string]bool{}
	for _, x := range pkgs {
		if !seen[x.name] {
			seen[x.name] = true
			names = append(names, x.name)
		}
		base := baseName(x.name)
		if (x.state == "present" || x.state == "latest") && !slices.Contains(fulls[base], x.name) {
			fulls[base] = append(fulls[base], x.name)
		}
	}
	solo := func(name string) bool { return len(fulls[baseName(name)]) > 1 }

	var b strings.Builder
	b.WriteString("nl='\n'\nr=0; o=$(dpkg-query -W -f='${Package} ${Architecture} ${db:Status-Abbrev}|${Version}|\\n'")
	for _, n := range names {
		b.WriteString(" " + q(n))
	}
	b.WriteString(" 2>/dev/null) || r=$?\nif [ $r -gt 1 ]; then\necho '#each'\n")
	for i, x := range pkgs {
		fmt.Fprintf(&b, "(\n%s\n) </dev/null; printf '\\n#each %d %%d\\n' $?\n", x.Probe(), i)
	}
	b.WriteString("exit 0\nfi\n[ -z \"$o\" ] || printf '%s\\n' \"$o\"\necho '#dpkg-end'\nO=$nl$o\nset --\nsolo=\n")
	lists := map[int64]bool{}
	var listSecs []int64
	for i, x := range pkgs {
		add := "set -- \"$@\" " + q(x.name)
		if solo(x.name) {
			add = "solo=\"$solo \"" + q(x.name)
		}
		want := fmt.Sprintf("echo '#want %d'; case \" $* $solo \" in *\" \"%s\" \"*) ;; *) %s;; esac", i, q(x.name), add)
		// The same test as Probe's case on dpkg-query's output, whose first
		// line for the package is found here in the batch's output.
		key := "\"$nl\"" + q(x.name) + "' '"
		arch := "x=${x#* }; "
		if base, a, ok := strings.Cut(x.name, ":"); ok {
			key, arch = "\"$nl\""+q(base+" "+a+" "), ""
		}
		first := "x=; case $O in *" + key + "*) x=${O#*" + key + "}; x=${x%%\"$nl\"*}; " + arch + "x=dpkg=$x;; esac\n"
		switch {
		case x.state == "latest":
			b.WriteString(want + "\n")
			if x.updateCache && x.cacheValid > 0 && !lists[x.cacheValid] {
				lists[x.cacheValid] = true
				listSecs = append(listSecs, x.cacheValid)
			}
		case x.version != "":
			fmt.Fprintf(&b, "%scase $x in dpkg=?[iWt]?'|'%s'|'*) ;; *) %s;; esac\n", first, q(x.version), want)
		case x.state == "present":
			fmt.Fprintf(&b, "%scase $x in dpkg=?[iWt]?'|'*) ;; *) %s;; esac\n", first, want)
		}
	}
	// Should the batch fail, each name is asked alone, as Probe does.
	fmt.Fprintf(&b, `if [ $# -gt 0 ]; then
echo '#policy'; pr=0; LC_ALL=C apt-cache %[1]s policy "$@" 2>/dev/null || pr=$?; echo "#policy-end $pr"
[ $pr -eq 0 ] || solo="$solo $*"
fi
for n in $solo; do echo "#policy-of $n"; pr=0; LC_ALL=C apt-cache %[1]s policy "$n" 2>/dev/null || pr=$?; echo "#policy-end $pr"; done
`, aptOpts)
	for _, secs := range listSecs {
		fmt.Fprintf(&b, "echo '#lists %d'; lr=0; %s || lr=$?; echo \"#lists-end $lr\"\n", secs, listsCheck(secs))
	}
	return b.String(), func(out resource.ProbeResult) ([]resource.ProbeResult, error) {
		return splitBatch(pkgs, out)
	}
}

// baseName is the package name without its architecture.
func baseName(name string) string {
	base, _, _ := strings.Cut(name, ":")
	return base
}

func splitBatch(pkgs []*Package, out resource.ProbeResult) ([]resource.ProbeResult, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("batched package probe failed with exit status %d", out.ExitCode)
	}
	if rest, ok := bytes.CutPrefix(out.Stdout, []byte("#each\n")); ok {
		return splitEach(len(pkgs), rest)
	}
	lines := strings.SplitAfter(string(out.Stdout), "\n")
	if last := lines[len(lines)-1]; last != "" {
		return nil, fmt.Errorf("batched package probe: output cut short after %q", last)
	}
	lines = lines[:len(lines)-1]
	k := 0
	next := func() (string, bool) {
		if k == len(lines) {
			return "", false
		}
		k++
		return strings.TrimSuffix(lines[k-1], "\n"), true
	}
	type dpkgLine struct{ name, arch, rest string }
	var dpkg []dpkgLine
	for {
		l, ok := next()
		if !ok {
			return nil, fmt.Errorf("batched package probe: dpkg-query section not terminated")
		}
		if l == "#dpkg-end" {
			break
		}
		name, r, ok1 := strings.Cut(l, " ")
		arch, r, ok2 := strings.Cut(r, " ")
		// The rest is Plan's to judge, as with Probe's output.
		if !ok1 || !ok2 || !nameRE.MatchString(name) {
			return nil, fmt.Errorf("batched package probe: malformed dpkg-query line %q", l)
		}
		dpkg = append(dpkg, dpkgLine{name, arch, r})
	}
	want := make([]bool, len(pkgs))
	policies := map[string]string{} // by package name, from the batch
	policyOf := map[string]string{} // by full name, asked alone
	batchRC, batchDone := 0, false
	lists := map[int64]string{}
	listsRC := map[int64]int{}
	// section reads lines up to an end marker "PREFIX RC".
	section := func(what, end string) (string, int, error) {
		var sb strings.Builder
		for {
			l, ok := next()
			if !ok {
				return "", 0, fmt.Errorf("batched package probe: %s section not terminated", what)
			}
			if rc, found := strings.CutPrefix(l, end+" "); found {
				n, err := strconv.Atoi(rc)
				if err != nil {
					return "", 0, fmt.Errorf("batched package probe: malformed line %q", l)
				}
				return sb.String(), n, nil
			}
			if strings.HasPrefix(l, "#") {
				return "", 0, fmt.Errorf("batched package probe: unexpected line %q in the %s section", l, what)
			}
			sb.WriteString(l + "\n")
		}
	}
	for {
		l, ok := next()
		if !ok {
			break
		}
		switch {
		case strings.HasPrefix(l, "#want "):
			i, err := strconv.Atoi(strings.TrimPrefix(l, "#want "))
			if err != nil || i < 0 || i >= len(pkgs) {
				return nil, fmt.Errorf("batched package probe: malformed line %q", l)
			}
			want[i] = true
		case l == "#policy" && !batchDone:
			text, rc, err := section("apt-cache policy", "#policy-end")
			if err != nil {
				return nil, err
			}
			batchRC, batchDone = rc, true
			if rc != 0 {
				continue // asked again name by name
			}
			// One block per package, from its unindented header line.
			cur := ""
			for _, pl := range strings.SplitAfter(text, "\n") {
				if pl == "" {
					continue
				}
				if !strings.HasPrefix(pl, " ") && strings.HasSuffix(pl, ":\n") {
					cur = baseName(strings.TrimSuffix(pl, ":\n"))
					if _, dup := policies[cur]; dup {
						return nil, fmt.Errorf("batched package probe: apt-cache policy printed %q twice", cur)
					}
				} else if cur == "" {
					return nil, fmt.Errorf("batched package probe: unexpected apt-cache policy line %q", pl)
				}
				policies[cur] += pl
			}
		case strings.HasPrefix(l, "#policy-of "):
			name := strings.TrimPrefix(l, "#policy-of ")
			text, rc, err := section("apt-cache policy", "#policy-end")
			if err != nil {
				return nil, err
			}
			policyOf[name] = text + "policy=end " + strconv.Itoa(rc) + "\n"
		case strings.HasPrefix(l, "#lists "):
			secs, err := strconv.ParseInt(strings.TrimPrefix(l, "#lists "), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("batched package probe: malformed line %q", l)
			}
			text, rc, err := section("lists", "#lists-end")
			if err != nil {
				return nil, err
			}
			lists[secs], listsRC[secs] = text, rc
		default:
			return nil, fmt.Errorf("batched package probe: unexpected line %q", l)
		}
	}

	res := make([]resource.ProbeResult, len(pkgs))
	for i, x := range pkgs {
		var b strings.Builder
		base, arch, qualified := strings.Cut(x.name, ":")
		rc := 1 // dpkg-query's status for a name it does not know
		for _, d := range dpkg {
			if d.name == base && (!qualified || d.arch == arch) {
				b.WriteString("dpkg=" + d.rest + "\n")
				rc = 0
			}
		}
		fmt.Fprintf(&b, "dpkgrc=%d\n", rc)
		if want[i] {
			b.WriteString("policy=begin\n")
			if text, ok := policyOf[x.name]; ok {
				b.WriteString(text)
			} else if batchDone && batchRC == 0 {
				b.WriteString(policies[base] + "policy=end 0\n")
			} else {
				return nil, fmt.Errorf("batched package probe: no apt-cache policy output for %s", x.name)
			}
		}
		if x.state == "latest" && x.updateCache && x.cacheValid > 0 {
			text, ok := lists[x.cacheValid]
			if !ok {
				return nil, fmt.Errorf("batched package probe: no lists check for %s", x.name)
			}
			b.WriteString(text)
			res[i].ExitCode = listsRC[x.cacheValid] // find is Probe's last command
		}
		res[i].Stdout = []byte(b.String())
	}
	return res, nil
}

// splitEach reads the framed outputs of every package's own Probe.
func splitEach(n int, out []byte) ([]resource.ProbeResult, error) {
	res := make([]resource.ProbeResult, n)
	for i := range res {
		marker := []byte("\n#each " + strconv.Itoa(i) + " ")
		j := bytes.Index(out, marker)
		if j < 0 {
			return nil, fmt.Errorf("batched package probe: output of package %d missing", i)
		}
		body, rest := out[:j], out[j+len(marker):]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("batched package probe: output of package %d cut short", i)
		}
		rc, err := strconv.Atoi(string(rest[:nl]))
		if err != nil {
			return nil, fmt.Errorf("batched package probe: bad exit status %q for package %d", rest[:nl], i)
		}
		res[i] = resource.ProbeResult{Stdout: body, ExitCode: rc}
		out = rest[nl+1:]
	}
	if len(out) > 0 {
		return nil, fmt.Errorf("batched package probe: unexpected output after the last package")
	}
	return res, nil
}
