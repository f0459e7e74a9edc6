package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The journal is a small file on each host listing the refreshes (service
// restarts, watched commands) that a run owed and did not carry out because
// it failed first. The next run's probe reads it and plans them, so a
// restart is never lost to a failure, as Ansible's handlers are.
const journalPath = "/var/lib/pinery/owed-refreshes"

// journalProbe is the probe snippet that reads the journal.
const journalProbe = "cat " + journalPath + " 2>/dev/null || :"

func parseJournal(out []byte) []string {
	var addrs []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			addrs = append(addrs, l)
		}
	}
	return addrs
}

// writeJournal replaces the journal atomically, or removes it when nothing
// is owed. It runs even after an interrupt: that is when it matters most.
func (h *hostRun) writeJournal(ctx context.Context, addrs []string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	script, what := "rm -f "+journalPath, "removing "+journalPath
	var stdin io.Reader
	if len(addrs) > 0 {
		slices.Sort(addrs)
		stdin = strings.NewReader("# Written by pinery: refreshes owed by runs that failed before them.\n" + strings.Join(addrs, "\n") + "\n")
		script = `umask 022; mkdir -p /var/lib/pinery || exit 1
t=$(mktemp /var/lib/pinery/.owed-XXXXXXXXXX) || exit 1
cat >"$t" && mv -f "$t" ` + journalPath + ` || { rm -f "$t"; exit 1; }`
		what = "writing " + journalPath
	}
	res, err := h.conn.Run(ctx, script, stdin)
	if err == nil {
		err = res.Err(what)
	}
	if err != nil {
		return fmt.Errorf("recording owed refreshes: %w", err)
	}
	return nil
}
