package pkg

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"al.essio.dev/pkg/shellescape"
)

// The probe prints, one per line:
//
//	dpkg=SSS|VERSION|      dpkg's status abbreviation and version (none when unknown)
//	dpkgrc=N               dpkg-query's exit status (1: not known to dpkg)
//	policy=begin           only when apt's candidate is needed:
//	...                    apt-cache policy's output
//	policy=end N
//	lists=fresh            only for latest with update_cache: the apt lists
//	lists=sources-changed  are younger than cache_valid_time, older than a
//	lists=present          change of the sources, contain Packages indexes
//
// dpkg-query is the only fork when the package is already as wanted.

// Where apt keeps its state; variables only so that tests can point them
// at a temporary tree.
var (
	listsDir = "/var/lib/apt/lists"
	// Written by Ubuntu's update hook and honoured by Ansible; pinery
	// touches the lists directory itself after an update.
	successStamp = "/var/lib/apt/periodic/update-success-stamp"
	sourcesList  = "/etc/apt/sources.list"
)

// aptOpts are given to every apt-get and apt-cache call: names are matched
// exactly (no regular expression or glob fallback: apt would otherwise
// install every package matching "lib.").
const aptOpts = "-o APT::Cmd::Pattern-Only=1"

// Probe returns the read-only snippet.
func (p *Package) Probe() string {
	q := shellescape.Quote(p.name)
	var b strings.Builder
	fmt.Fprintf(&b, "d=$(dpkg-query -W -f='dpkg=${db:Status-Abbrev}|${Version}|\\n' %s 2>/dev/null); r=$?\n", q)
	b.WriteString("[ -z \"$d\" ] || printf '%s\\n' \"$d\"\necho \"dpkgrc=$r\"\n")
	policy := fmt.Sprintf("echo policy=begin; LC_ALL=C apt-cache %s policy %s 2>/dev/null; echo \"policy=end $?\"", aptOpts, q)
	switch {
	case p.state == "latest":
		b.WriteString(policy + "\n")
		if p.updateCache && p.cacheValid > 0 {
			b.WriteString(listsCheck(p.cacheValid) + "\n")
		}
	case p.version != "":
		fmt.Fprintf(&b, "case $d in dpkg=?[iWt]?'|'%s'|'*) ;; *) %s;; esac\n", shellescape.Quote(p.version), policy)
	case p.state == "present":
		fmt.Fprintf(&b, "case $d in dpkg=?[iWt]?'|'*) ;; *) %s;; esac\n", policy)
	}
	return b.String()
}

// listsCheck is a find that prints lists=fresh when the apt lists (or the
// update-success stamp) are younger than validSecs, lists=sources-changed
// for each apt source file newer than the lists, and lists=present when
// the lists hold at least one Packages index. One fork.
func listsCheck(validSecs int64) string {
	q := shellescape.Quote
	mins := strconv.FormatFloat(float64(validSecs)/60, 'f', -1, 64)
	return "find " + q(successStamp) + " " + q(sourcesList) + " " + q(sourcesList+".d") + " " + q(listsDir) +
		" -maxdepth 1 \\( \\( -path " + q(listsDir) + " -o -path " + q(successStamp) + " \\) -mmin -" + mins +
		" -printf 'lists=fresh\\n' -o -path " + q(sourcesList+"*") + " -newer " + q(listsDir) +
		" -printf 'lists=sources-changed\\n' -o -path " + q(listsDir+"/*_Packages*") + " -printf 'lists=present\\n' -quit \\) 2>/dev/null"
}

// observed is the parsed probe output.
type observed struct {
	dpkgRC  int
	entries []dpkgEntry // one per architecture
	policy  *policy     // nil when not asked
	lists   listsState
}

type dpkgEntry struct {
	status  byte // dpkg's current status letter: n c H U F W t i
	want    byte
	version string
}

type policy struct {
	known     bool // apt knows the package at all
	installed string
	candidate string // "" when (none)
	versions  []string
	rc        int
}

type listsState struct {
	fresh, sourcesChanged, present bool
}

// stale reports whether apt-get update would run before an install.
func (l listsState) stale() bool { return !l.fresh || l.sourcesChanged || !l.present }

func parseProbe(out []byte) (*observed, error) {
	o := &observed{dpkgRC: -1}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	inPolicy := false
	var pol []string
	for sc.Scan() {
		line := sc.Text()
		if inPolicy {
			if rest, ok := strings.CutPrefix(line, "policy=end "); ok {
				rc, err := strconv.Atoi(rest)
				if err != nil {
					return nil, fmt.Errorf("bad line %q", line)
				}
				o.policy = parsePolicy(pol)
				o.policy.rc = rc
				inPolicy = false
				continue
			}
			pol = append(pol, line)
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "dpkg="):
			e, err := parseDpkg(strings.TrimPrefix(line, "dpkg="))
			if err != nil {
				return nil, err
			}
			o.entries = append(o.entries, e)
		case strings.HasPrefix(line, "dpkgrc="):
			rc, err := strconv.Atoi(strings.TrimPrefix(line, "dpkgrc="))
			if err != nil {
				return nil, fmt.Errorf("bad line %q", line)
			}
			o.dpkgRC = rc
		case line == "policy=begin":
			inPolicy = true
		case line == "lists=fresh":
			o.lists.fresh = true
		case line == "lists=sources-changed":
			o.lists.sourcesChanged = true
		case line == "lists=present":
			o.lists.present = true
		default:
			return nil, fmt.Errorf("unexpected line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if inPolicy {
		return nil, fmt.Errorf("apt-cache policy output cut short")
	}
	if o.dpkgRC < 0 {
		return nil, fmt.Errorf("no dpkg-query status in the probe output")
	}
	return o, nil
}

// parseDpkg reads "SSS|VERSION|" (SSS: want, status, error flag).
func parseDpkg(s string) (dpkgEntry, error) {
	parts := strings.Split(s, "|")
	if len(parts) != 3 || len(parts[0]) != 3 || parts[2] != "" {
		return dpkgEntry{}, fmt.Errorf("bad dpkg-query line %q", s)
	}
	st := parts[0][1]
	if !strings.ContainsRune("ncHUFWti", rune(st)) {
		return dpkgEntry{}, fmt.Errorf("unknown dpkg status %q in %q", string(st), s)
	}
	return dpkgEntry{want: parts[0][0], status: st, version: parts[1]}, nil
}

// parsePolicy reads apt-cache policy's output for one package:
//
//	bash:
//	  Installed: 5.2.15-2+b8
//	  Candidate: 5.2.15-2+b13
//	  Version table:
//	     5.2.15-2+b13 500
//	        500 http://deb.debian.org/debian bookworm/main amd64 Packages
//	 *** 5.2.15-2+b8 100
//	        100 /var/lib/dpkg/status
func parsePolicy(lines []string) *policy {
	p := &policy{}
	inTable := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case !strings.HasPrefix(l, " ") && strings.HasSuffix(l, ":"):
			p.known = true
		case strings.HasPrefix(t, "Installed:"):
			p.installed = noneToEmpty(strings.TrimSpace(strings.TrimPrefix(t, "Installed:")))
		case strings.HasPrefix(t, "Candidate:"):
			p.candidate = noneToEmpty(strings.TrimSpace(strings.TrimPrefix(t, "Candidate:")))
		case t == "Version table:":
			inTable = true
		case inTable:
			// Version lines are indented by 5 (" *** " marks the installed
			// one), their sources by 8.
			if strings.HasPrefix(l, " *** ") || (strings.HasPrefix(l, "     ") && !strings.HasPrefix(l, "      ")) {
				f := strings.Fields(strings.TrimPrefix(l, " *** "))
				if len(f) >= 1 {
					p.versions = append(p.versions, f[0])
				}
			}
		}
	}
	return p
}

func noneToEmpty(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}

// current is the package's state on the host, summarised.
type current struct {
	status  byte   // 0 when dpkg does not know it
	version string // installed version
}

func (c current) installed() bool { return c.status == 'i' || c.status == 'W' || c.status == 't' }
func (c current) broken() bool    { return c.status == 'H' || c.status == 'U' || c.status == 'F' }
func (c current) present() bool   { return c.installed() || c.broken() }

// describe names the state for a plan line.
func (c current) describe() string {
	switch c.status {
	case 'i', 'W', 't':
		return "installed"
	case 'H':
		return "half-installed"
	case 'U':
		return "unpacked"
	case 'F':
		return "half-configured"
	case 'c':
		return "config-files"
	}
	return "absent"
}

// summarise picks the most installed architecture's entry.
func (o *observed) current() current {
	var best *dpkgEntry
	rank := func(s byte) int {
		switch s {
		case 'i', 'W', 't':
			return 3
		case 'H', 'U', 'F':
			return 2
		case 'c':
			return 1
		}
		return 0
	}
	for i := range o.entries {
		if best == nil || rank(o.entries[i].status) > rank(best.status) {
			best = &o.entries[i]
		}
	}
	if best == nil || best.status == 'n' {
		return current{}
	}
	return current{status: best.status, version: best.version}
}
