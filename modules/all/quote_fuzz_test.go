package all_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"al.essio.dev/pkg/shellescape"
)

// FuzzShellQuote: shellescape.Quote, the one quoting function every module
// uses for what reaches a remote shell, gives back exactly the value as one
// word, through a real sh (dash, as on Debian hosts) and bash: as an
// argument, in an assignment and as the only word of a list. A value
// interpreted in any way ($, `, globs, quotes, IFS) comes back different.
func FuzzShellQuote(f *testing.F) {
	for _, v := range hostileValues() {
		f.Add(v.s)
	}
	shells := []string{"sh"}
	if _, err := exec.LookPath("bash"); err == nil {
		shells = append(shells, "bash")
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return // no command line can carry a NUL; modules refuse it
		}
		q := shellescape.Quote(s)
		script := "set -f\nprintf '%s' " + q + "\nprintf '\\000'\nv=" + q + "\nprintf '%s' \"$v\"\nprintf '\\000'\nset +f\nset -- " + q + "\nprintf '%s' \"$#\"\n"
		want := s + "\x00" + s + "\x00" + "1"
		for _, sh := range shells {
			cmd := exec.Command(sh, "-c", script)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "IFS= \t\n", "HOME=/nonexistent"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || stderr.Len() > 0 || string(out) != want {
				t.Fatalf("%s: %q quoted as %s came back %q (%v %s)", sh, s, q, out, err, stderr.Bytes())
			}
		}
	})
}
