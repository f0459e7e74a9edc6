package aptsource

import (
	"fmt"
	"regexp"
	"strings"
)

// failPattern matches the lines by which apt-get update says a source
// failed, even when it exits 0: errors, and the warnings that mean the
// source's indexes were not (or not securely) fetched. Both grep -E on the
// host and Go use it, line by line.
const failPattern = `^(E|Err|Error):|` +
	`^(W|Warning): (GPG error|An error occurred during the signature verification|OpenPGP signature verification failed|` +
	`Failed to fetch|Some index files failed to download|Skipping acquire of configured file)|` +
	`NO_PUBKEY|EXPKEYSIG|REVKEYSIG|BADSIG|is not signed|Hash Sum mismatch`

var (
	failRE   = regexp.MustCompile(failPattern)
	reportRE = regexp.MustCompile(`^(E|W|Error|Warning): `)
	pubkeyRE = regexp.MustCompile(`NO_PUBKEY ([0-9A-F]+)`)
)

// aptReasons picks apt's own words for a failure: its E:/W: lines that
// match failPattern, else any matching line, else the last lines.
func aptReasons(out string) []string {
	var reports, matches, all []string
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		all = append(all, l)
		if !failRE.MatchString(l) {
			continue
		}
		if reportRE.MatchString(l) {
			reports = append(reports, l)
		} else {
			matches = append(matches, l)
		}
	}
	switch {
	case len(reports) > 0:
		return reports
	case len(matches) > 0:
		return matches
	case len(all) > 5:
		return all[len(all)-5:]
	case len(all) == 0:
		return []string{"(apt printed nothing)"}
	}
	return all
}

// updateError says why apt refused the source, in apt's words, with a
// hint for the common causes.
func updateError(path, out string) error {
	reasons := aptReasons(out)
	msg := fmt.Sprintf("apt-get update refused %s, so the change was undone (the files are as before):\n  %s", path, strings.Join(reasons, "\n  "))
	if h := hint(strings.Join(reasons, "\n")); h != "" {
		msg += "\n" + h
	}
	return fmt.Errorf("%s", msg)
}

func hint(s string) string {
	switch {
	case strings.Contains(s, "NO_PUBKEY"):
		var ids []string
		for _, m := range pubkeyRE.FindAllStringSubmatch(s, -1) {
			if !contains(ids, m[1]) {
				ids = append(ids, m[1])
			}
		}
		return "The repository is signed by key " + strings.Join(ids, ", ") + ", which the configured key does not hold: check signing_key against the repository's published key."
	case strings.Contains(s, "EXPKEYSIG"):
		return "The repository's signing key has expired: get its current key from the repository's owner."
	case strings.Contains(s, "REVKEYSIG"):
		return "The repository's signing key was revoked: get its current key from the repository's owner."
	case strings.Contains(s, "does not have a Release file"):
		return "Check uris and suites: apt found no Release file there."
	case strings.Contains(s, "doesn't have the component"):
		return "Check components: the repository does not publish that component."
	case strings.Contains(s, "Hash Sum mismatch") || strings.Contains(s, "File has unexpected size"):
		return "The mirror changed while apt read it (a sync in progress?): apply again later."
	case strings.Contains(s, "Could not get lock"):
		return "Another apt process held the lists for a minute (unattended-upgrades?): apply again once it is done."
	}
	return ""
}
