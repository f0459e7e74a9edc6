package capture

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// The probe snippet runs in a real sh here, as in a host's probe; Read
// turns what it printed into the value or the command's error.
func TestProbeAndRead(t *testing.T) {
	for _, tc := range []struct {
		name, command string
		sensitive     bool
		want, err     string
	}{
		{name: "value", command: "echo ssh-ed25519 AAAA key", want: "ssh-ed25519 AAAA key"},
		{name: "trailing newlines trimmed, inner kept", command: "printf 'a\\n\\nb\\n\\n\\n'", want: "a\n\nb"},
		{name: "no newline", command: "printf x", want: "x"},
		{name: "empty output", command: "true", want: ""},
		{name: "quotes", command: `echo "it's" '$HOME'`, want: "it's $HOME"},
		{name: "stderr is not the value", command: "echo v; echo noise >&2", want: "v"},
		{name: "failure says why", command: "echo partial; echo 'no such file' >&2; exit 3", err: "capture: command exited with status 3: no such file"},
		{name: "sensitive failure hides stderr", command: "echo secret-ish >&2; exit 1", sensitive: true, err: "capture: command exited with status 1"},
		{name: "output looking like the marker", command: "printf '%s\\n' '--pinery-capture-stderr--' x", want: "--pinery-capture-stderr--\nx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(resource.Config{Values: map[string]cty.Value{"command": cty.StringVal(tc.command), "sensitive": cty.BoolVal(tc.sensitive)}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("sh", "-c", r.Probe()).Output()
			rc := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				rc = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if d, err := r.Plan(resource.ProbeResult{Stdout: out, ExitCode: rc}); err != nil || !d.Empty() {
				t.Errorf("a capture never plans a change: %+v %v", d, err)
			}
			vals, err := r.(resource.Reader).Read(resource.ProbeResult{Stdout: out, ExitCode: rc})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if tc.sensitive && strings.Contains(err.Error(), "secret") {
					t.Errorf("sensitive capture's stderr in %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := vals["stdout"].AsString(); got != tc.want {
				t.Errorf("stdout %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEmptyCommand(t *testing.T) {
	if _, err := New(resource.Config{Values: map[string]cty.Value{"command": cty.StringVal("  "), "sensitive": cty.False}}); err == nil {
		t.Fatal("an empty command was accepted")
	}
}

func TestUnreadableOutput(t *testing.T) {
	r, _ := New(resource.Config{Values: map[string]cty.Value{"command": cty.StringVal("x"), "sensitive": cty.False}})
	if _, err := r.(resource.Reader).Read(resource.ProbeResult{Stdout: []byte("cut short")}); err == nil {
		t.Fatal("output without the marker was read")
	}
}

// Read takes back what the probe printed: the value (trailing newlines
// removed), whatever it holds, or the command's error; never a panic.
func FuzzRead(f *testing.F) {
	f.Add("v\n", "", 0)
	f.Add("", "no such file", 2)
	f.Add("a\n--pinery-capture-stderr--\n", "", 0)
	f.Add("x", "--pinery-capture-stderr", 1)
	r, _ := New(resource.Config{Values: map[string]cty.Value{"command": cty.StringVal("x"), "sensitive": cty.False}})
	f.Fuzz(func(t *testing.T, value, stderr string, rc int) {
		if strings.Contains(stderr, "\n"+errMark+"\n") {
			return // a stderr repeating the frame is not told apart (documented limit)
		}
		out := []byte(value + "\n" + errMark + "\n" + stderr)
		vals, err := r.(resource.Reader).Read(resource.ProbeResult{Stdout: out, ExitCode: rc})
		switch {
		case rc != 0 && err == nil:
			t.Fatalf("exit status %d read as a value", rc)
		case rc == 0 && err != nil:
			t.Fatalf("%q: %v", out, err)
		case rc == 0 && vals["stdout"].AsString() != strings.TrimRight(value, "\n"):
			t.Fatalf("read %q from %q", vals["stdout"].AsString(), value)
		}
		// Any bytes at all: an error or a value, never a panic.
		_, _ = r.(resource.Reader).Read(resource.ProbeResult{Stdout: []byte(value), ExitCode: rc})
	})
}
