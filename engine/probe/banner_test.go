package probe

import (
	"context"
	"strings"
	"testing"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// bashrcBackup keeps root's .bashrc on h1 while the test changes it; a
// backup left by an interrupted run is restored first.
const bashrcBackup = "/root/.bashrc.pinery-banner-test"

// TestFleetBashrcBanner runs a batched probe on a real host whose .bashrc
// (which bash sources for SSH commands) prints a banner, or eats the
// script from stdin: the banner is skipped and the results are exact; the
// eaten script is a clear error, never a partial result.
func TestFleetBashrcBanner(t *testing.T) {
	h := fleettest.Dial(t, "h1")
	ctx := context.Background()
	run := func(cmd string) {
		t.Helper()
		res, err := h.Run(ctx, cmd, nil)
		if err == nil {
			err = res.Err(cmd)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	restore := "if [ -f " + bashrcBackup + " ]; then mv -f " + bashrcBackup + " /root/.bashrc; fi"
	run(restore + "\ncp -p /root/.bashrc " + bashrcBackup)
	t.Cleanup(func() {
		if res, err := h.Run(ctx, restore, nil); err != nil || res.ExitCode != 0 {
			t.Errorf("restoring /root/.bashrc on h1: %v %s", err, res.Stderr)
		}
	})
	// prepend writes the backup with line before it, as a new .bashrc.
	prepend := func(line string) {
		run("t=$(mktemp /root/.bashrc.XXXXXX) && { printf '%s\\n' " + shellescape.Quote(line) + "; cat " + bashrcBackup + "; } >\"$t\" && chmod 0644 \"$t\" && mv -f \"$t\" /root/.bashrc")
	}
	snippets := []string{`printf 'a=1\nb=2\n'`, `printf 'no newline'`, `exit 3`, `cat; echo "stdin was empty"`}
	want := []resource.ProbeResult{
		{Stdout: []byte("a=1\nb=2\n")}, {Stdout: []byte("no newline")}, {ExitCode: 3}, {Stdout: []byte("stdin was empty\n")},
	}
	probe := func() ([]resource.ProbeResult, error) {
		s := New(snippets)
		res, err := h.Run(ctx, "exec sh -s", strings.NewReader(s.Text))
		if err != nil {
			t.Fatal(err)
		}
		return s.Parse(res.Stdout)
	}

	for _, banner := range []string{
		`echo "Welcome to h1 (from .bashrc)"`,
		`printf 'a banner without a line break'`,
		`printf 'type=none\n--pinery-0 0 0\n'`,
	} {
		prepend(banner)
		res, err := h.Run(ctx, "true", nil)
		if err != nil || len(res.Stdout) == 0 {
			t.Fatalf("the banner %s is not printed for an SSH command (%v): the test proves nothing", banner, err)
		}
		got, err := probe()
		if err != nil {
			t.Fatalf("banner %s: %v", banner, err)
		}
		for i, w := range want {
			if string(got[i].Stdout) != string(w.Stdout) || got[i].ExitCode != w.ExitCode {
				t.Errorf("banner %s: snippet %d: got %q rc %d, want %q rc %d", banner, i, got[i].Stdout, got[i].ExitCode, w.Stdout, w.ExitCode)
			}
		}
	}

	// A .bashrc that reads stdin swallows the script: nothing runs.
	prepend("cat >/dev/null")
	if got, err := probe(); err == nil || got != nil || !strings.Contains(err.Error(), "no start marker") {
		t.Errorf("script eaten by .bashrc: %d results, error %v", len(got), err)
	}
}
