package resource

import (
	"errors"
	"testing"
)

func TestResultErrDiskFull(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  Result
		want string
		full bool
	}{
		{"ok", Result{Stderr: []byte("No space left on device")}, "", false},
		{"plain failure", Result{ExitCode: 1, Stderr: []byte("mv: cannot move: Permission denied\n")},
			`writing "/etc/x": exit status 1: mv: cannot move: Permission denied`, false},
		{"no message", Result{ExitCode: 2}, `writing "/etc/x": exit status 2`, false},
		{"ENOSPC on stderr", Result{ExitCode: 1, Stderr: []byte("cat: write error: No space left on device\n")},
			`writing "/etc/x": no space left on the host's filesystem (disk full); free space there and run again (exit status 1: cat: write error: No space left on device)`, true},
		{"ENOSPC merged on stdout", Result{ExitCode: 1, Stdout: []byte("mktemp: failed to create file via template '/srv/.pinery-XXXXXXXXXX': No space left on device\n")},
			`writing "/etc/x": no space left on the host's filesystem (disk full); free space there and run again (exit status 1: mktemp: failed to create file via template '/srv/.pinery-XXXXXXXXXX': No space left on device)`, true},
		{"EDQUOT", Result{ExitCode: 1, Stderr: []byte("head: error writing 'standard output': Disk quota exceeded")},
			`writing "/etc/x": no space left on the host's filesystem (disk full); free space there and run again (exit status 1: head: error writing 'standard output': Disk quota exceeded)`, true},
		{"other words", Result{ExitCode: 1, Stderr: []byte("no space left for the device name")},
			`writing "/etc/x": exit status 1: no space left for the device name`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.res.Err(`writing "/etc/x"`)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Err =\n  %s\nwant\n  %s", got, tc.want)
			}
			if errors.Is(err, ErrDiskFull) != tc.full {
				t.Errorf("errors.Is(err, ErrDiskFull) = %v, want %v", !tc.full, tc.full)
			}
		})
	}
}
