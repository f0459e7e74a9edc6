package build

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/resource"
)

func TestFailureMessage(t *testing.T) {
	var log strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	b := newBuild(t, testBase(t), valid())
	err := b.failure(resource.Result{ExitCode: exitScript}, "arm64", []byte(log.String()), nil)
	msg := err.Error()
	if !strings.Contains(msg, "the script failed") || !strings.Contains(msg, "\n    line 61\n") || strings.Contains(msg, "line 60\n") ||
		!strings.HasSuffix(msg, "    line 100") || !strings.Contains(msg, "/var/lib/pinery/builds/test/build.log") || !strings.Contains(msg, b.logPath("arm64")) {
		t.Errorf("message:\n%s", msg)
	}
	if got := strings.Count(msg, "\n    line "); got != tailLines {
		t.Errorf("%d lines quoted, want %d", got, tailLines)
	}
	for code, want := range map[int]string{exitDepends: "installing build_depends failed", exitSource: "unpacking the source failed",
		exitChanged: "changed since the plan", 1: "exit status 1"} {
		if err := b.failure(resource.Result{ExitCode: code}, "arm64", nil, nil); !strings.Contains(err.Error(), want) {
			t.Errorf("exit %d: %v", code, err)
		}
	}

	// A sensitive script's log is not quoted; sensitive values are blanked.
	s := newBuild(t, testBase(t), valid(), "script")
	if msg := s.failure(resource.Result{ExitCode: exitScript}, "arm64", []byte("token=abc\n"), nil).Error(); strings.Contains(msg, "abc") || !strings.Contains(msg, "not shown") {
		t.Errorf("sensitive script: %s", msg)
	}
	g := newBuild(t, testBase(t), with(valid(), "source_dir", nil, "source_git", str("https://bot:s3cr3t@git.example.org/x.git"), "source_ref", str(strings.Repeat("c", 40))))
	if got := g.redact("fatal: could not read from https://bot:s3cr3t@git.example.org/x.git"); strings.Contains(got, "s3cr3t") {
		t.Errorf("a URL password is shown: %s", got)
	}
	g = newBuild(t, testBase(t), with(valid(), "source_dir", nil, "source_git", str("https://git.example.org/x.git?t=s3cr3t"), "source_ref", str(strings.Repeat("c", 40))), "source_git")
	if got := g.redact("cloning https://git.example.org/x.git?t=s3cr3t failed"); got != "cloning (sensitive) failed" {
		t.Errorf("a sensitive URL is shown: %s", got)
	}
}
