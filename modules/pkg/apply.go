package pkg

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// aptEnv and aptGet start every apt-get command that changes the host:
// no questions, configuration files the admin changed are kept, names are
// exact, and a lock held by another apt (unattended-upgrades) is waited
// for a minute before giving up.
const (
	aptEnv = "DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a LC_ALL=C"
	aptGet = aptEnv + " apt-get -y -q " + aptOpts +
		" -o DPkg::Lock::Timeout=60 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
)

// ApplyAll applies every given package of one host in as few apt
// transactions as possible: normally one apt-get update (when needed) and
// one apt-get install that also removes (name-) what must go.
func (p *Package) ApplyAll(ctx context.Context, h resource.Runner, rs []resource.Resource, ds []*resource.Diff) error {
	if len(rs) != len(ds) {
		return fmt.Errorf("package: %d resources but %d diffs", len(rs), len(ds))
	}
	var items []item
	for i, r := range rs {
		if ds[i].Empty() {
			continue
		}
		pk, ok := r.(*Package)
		if !ok {
			return fmt.Errorf("package: ApplyAll given a %T", r)
		}
		pl, ok := ds[i].Private.(planned)
		if !ok {
			return fmt.Errorf("package %s: the plan carries no package operation (was it made by this version of pinery?)", pk.name)
		}
		items = append(items, item{pk, pl})
	}
	if len(items) == 0 {
		return nil
	}
	var updateOut string
	if script := updateScript(items); script != "" {
		res, err := h.Run(ctx, script, nil)
		if err != nil {
			return fmt.Errorf("apt-get update: %w", err)
		}
		if res.ExitCode != 0 {
			return aptError("apt-get update", res, nil)
		}
		updateOut = string(res.Stdout)
	}
	for _, cmd := range transactions(items) {
		res, err := h.Run(ctx, cmd.script, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd.what, err)
		}
		if res.ExitCode != 0 {
			err := aptError(cmd.what, res, cmd.names)
			if w := fetchWarnings(updateOut); w != "" {
				err = fmt.Errorf("%w\n(apt-get update could not fetch some indexes: %s)", err, w)
			}
			return err
		}
	}
	return nil
}

type item struct {
	p  *Package
	pl planned
}

// updateScript returns the script that refreshes the apt lists when an
// install needs it, or "" when no install asks for it. Freshness is checked
// again on the host: a source added earlier in this run counts.
func updateScript(items []item) string {
	valid := int64(-1)
	for _, it := range items {
		if it.pl.Op != "install" || !it.p.updateCache {
			continue
		}
		if valid < 0 || it.p.cacheValid < valid {
			valid = it.p.cacheValid
		}
		if it.pl.Stale {
			valid = 0
		}
	}
	if valid < 0 {
		return ""
	}
	var b strings.Builder
	if valid > 0 {
		b.WriteString("s=$(" + listsCheck(valid) + ")\n")
		b.WriteString("case $s in *lists=sources-changed*) ;; *lists=fresh*lists=present*) exit 0;; esac\n")
	}
	b.WriteString("out=$(" + aptEnv + " apt-get -q " + aptOpts + " -o DPkg::Lock::Timeout=60 update 2>&1); rc=$?\n")
	b.WriteString("printf '%s\\n' \"$out\"\n")
	b.WriteString("[ $rc -eq 0 ] || exit $rc\n")
	// Only a complete update makes the lists fresh for cache_valid_time.
	b.WriteString("case $out in *Err:*|*'Failed to fetch'*|*'index files failed'*) ;; *) touch " + shellescape.Quote(listsDir) + ";; esac\n")
	return b.String()
}

type command struct {
	what   string // for errors: "apt-get install"
	script string
	names  []string
}

// transactions groups the items into apt-get commands: the installs of each
// install_recommends setting, with the removals joined to the first one
// (name-); purges join it with --purge when there are no plain removals,
// else they get their own apt-get purge.
func transactions(items []item) []command {
	var groups [2][]string // installs without / with recommends
	var removes, purges []string
	var pinned [2]bool
	for _, it := range items {
		switch it.pl.Op {
		case "install":
			g := 0
			if it.p.recommends {
				g = 1
			}
			groups[g] = append(groups[g], it.pl.Spec)
			pinned[g] = pinned[g] || strings.Contains(it.pl.Spec, "=")
		case "remove":
			removes = append(removes, it.pl.Spec)
		case "purge":
			purges = append(purges, it.pl.Spec)
		}
	}
	var out []command
	joined := false
	for g, specs := range groups {
		if len(specs) == 0 {
			continue
		}
		args := []string{aptGet}
		if g == 0 {
			args = append(args, "--no-install-recommends")
		} else {
			args = append(args, "--install-recommends")
		}
		if pinned[g] {
			// The user asked for that exact version, older or not.
			args = append(args, "--allow-downgrades")
		}
		names := append([]string(nil), specs...)
		var rm []string
		if !joined {
			joined = true
			switch {
			case len(removes) > 0:
				rm, removes = removes, nil
			case len(purges) > 0:
				rm, purges = purges, nil
				args = append(args, "--purge")
			}
		}
		args = append(args, "install")
		for _, s := range specs {
			args = append(args, shellescape.Quote(s))
		}
		for _, s := range rm {
			args = append(args, shellescape.Quote(s+"-"))
		}
		out = append(out, command{what: "apt-get install", script: strings.Join(args, " "), names: append(names, rm...)})
	}
	if len(removes) > 0 {
		out = append(out, command{what: "apt-get remove", script: aptGet + " remove " + quoteAll(removes), names: removes})
	}
	if len(purges) > 0 {
		out = append(out, command{what: "apt-get purge", script: aptGet + " purge " + quoteAll(purges), names: purges})
	}
	return out
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = shellescape.Quote(s)
	}
	return strings.Join(q, " ")
}

var (
	reNotFound    = regexp.MustCompile(`(?m)^(?:E|Error): Unable to locate package (\S+)`)
	reNoVersion   = regexp.MustCompile(`(?m)^(?:E|Error): Version '([^']*)' for '([^']*)' was not found`)
	reNoCandidate = regexp.MustCompile(`(?m)^(?:E|Error): Package '?([^' ]+)'? has no installation candidate`)
	reLock        = regexp.MustCompile(`(?m)Could not get lock (\S+?)\.?(?: It is held by process (\d+)(?: \(([^)]*)\))?)?(?: - open.*)?$`)
	reLockOther   = regexp.MustCompile(`(?m)Unable to (?:acquire the dpkg frontend lock|lock the administration directory|lock directory)`)
	reInterrupted = regexp.MustCompile(`dpkg was interrupted, you must manually run '([^']+)'`)
	reHeld        = regexp.MustCompile(`Held packages were changed and -y was used without --allow-change-held-packages`)
	reBroken      = regexp.MustCompile(`(?m)^The following packages have unmet dependencies:\n((?:[ \t].*\n?)+)`)
	reDpkgFailed  = regexp.MustCompile(`(?m)^dpkg: error processing (?:package|archive) (\S+) \(([^)]*)\):\n((?:[ \t].*\n?)*)`)
	reFetch       = regexp.MustCompile(`(?m)^(?:E|Error): (Failed to fetch .*)$`)
	reWarnFetch   = regexp.MustCompile(`(?m)^(?:W|Warning|E|Error): (Failed to fetch .*)$`)
	reSpace       = regexp.MustCompile(`(?m)^(?:E|Error): (You don't have enough free space in .*)$`)
)

// aptError turns a failed apt-get run into an error that says what happened
// in apt's terms and names the packages concerned.
func aptError(what string, res resource.Result, names []string) error {
	out := string(res.Stdout) + "\n" + string(res.Stderr)
	var errs []error
	for _, m := range reNotFound.FindAllStringSubmatch(out, -1) {
		errs = append(errs, fmt.Errorf("package %s: not found in the configured apt sources (check the name, and that an apt_source providing it is applied before it)", m[1]))
	}
	for _, m := range reNoVersion.FindAllStringSubmatch(out, -1) {
		errs = append(errs, fmt.Errorf("package %s: version %s is not available from the configured apt sources", m[2], m[1]))
	}
	for _, m := range reNoCandidate.FindAllStringSubmatch(out, -1) {
		errs = append(errs, fmt.Errorf("package %s: has no installation candidate (it is only referred to by other packages, obsolete, or virtual: install a package that provides it)", m[1]))
	}
	if m := reLock.FindStringSubmatch(out); m != nil || reLockOther.MatchString(out) {
		msg := "another apt/dpkg process holds the lock"
		if m != nil {
			msg += " " + m[1]
			if m[2] != "" {
				msg += " (process " + m[2]
				if m[3] != "" {
					msg += ", " + m[3]
				}
				msg += ")"
			}
		}
		errs = append(errs, fmt.Errorf("%s: %s (pinery waited 60 s for it): let it finish (unattended-upgrades?) and run again", what, msg))
	}
	if m := reInterrupted.FindStringSubmatch(out); m != nil {
		errs = append(errs, fmt.Errorf("%s: a previous dpkg run was interrupted: run %q on the host, then run again", what, m[1]))
	}
	if reHeld.MatchString(out) {
		errs = append(errs, fmt.Errorf("%s: this would change packages on hold (apt-mark showhold lists them; apt-mark unhold to release them): %s", what, strings.Join(names, ", ")))
	}
	if m := reBroken.FindStringSubmatch(out); m != nil {
		errs = append(errs, fmt.Errorf("%s: unmet dependencies:\n%s", what, strings.TrimRight(m[1], "\n")))
	}
	for _, m := range reDpkgFailed.FindAllStringSubmatch(out, -1) {
		detail := strings.TrimSpace(m[3])
		if detail != "" {
			detail = ": " + detail
		}
		errs = append(errs, fmt.Errorf("package %s: dpkg failed (%s)%s%s", m[1], m[2], detail, leadLines(out, m[0])))
	}
	if m := reSpace.FindStringSubmatch(out); m != nil {
		errs = append(errs, fmt.Errorf("%s: %s", what, m[1]))
	}
	if len(errs) == 0 {
		if ms := reFetch.FindAllStringSubmatch(out, -1); ms != nil {
			for _, m := range ms {
				errs = append(errs, fmt.Errorf("%s: %s", what, m[1]))
			}
		}
	}
	if len(errs) == 0 {
		return res.Err(what)
	}
	return errors.Join(errs...)
}

// leadLines returns the few lines apt printed before a dpkg failure (the
// maintainer script's own messages), indented, or "".
func leadLines(out, at string) string {
	i := strings.Index(out, at)
	if i <= 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(out[:i], "\n"), "\n")
	var keep []string
	for j := len(lines) - 1; j >= 0 && len(keep) < 8; j-- {
		l := lines[j]
		if strings.HasPrefix(l, "Setting up ") || strings.HasPrefix(l, "Unpacking ") || strings.HasPrefix(l, "Preparing to unpack") {
			break
		}
		if strings.TrimSpace(l) != "" {
			keep = append([]string{"  " + l}, keep...)
		}
	}
	if len(keep) == 0 {
		return ""
	}
	return "\n" + strings.Join(keep, "\n")
}

// fetchWarnings lists the indexes apt-get update could not fetch.
func fetchWarnings(out string) string {
	var w []string
	for _, m := range reWarnFetch.FindAllStringSubmatch(out, -1) {
		w = append(w, m[1])
	}
	return strings.Join(w, "; ")
}
