package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinery/pinery/inventory"
)

// Where the sudo password comes from, and the errors when it cannot.
func TestBecomePasswordSources(t *testing.T) {
	dir := t.TempDir()
	n := 0
	file := func(content string) string {
		n++
		p := filepath.Join(dir, "pw"+strconv.Itoa(n))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	need := []*inventory.Host{{Name: "h5", BecomePassword: true}, {Name: "h1"}, {Name: "h6", BecomePassword: true}}
	tests := []struct {
		name   string
		hosts  []*inventory.Host
		flags  becomeFlags
		env    string
		want   string // the password, or the error
		stderr string
	}{
		{name: "no host needs one", hosts: need[1:2], env: "pw", want: ""},
		{name: "-K, no host needs one", hosts: need[1:2], flags: becomeFlags{ask: true}, stderr: "not asking for a sudo password"},
		{name: "env", hosts: need, env: "s3cr3t", want: "s3cr3t"},
		{name: "file over env", hosts: need, env: "env-pw", flags: becomeFlags{file: file("file-pw\n")}, want: "file-pw"},
		{name: "file with CRLF", hosts: need, flags: becomeFlags{file: file("crlf-pw\r\nrest\n")}, want: "crlf-pw"},
		{name: "file without newline", hosts: need, flags: becomeFlags{file: file("bare")}, want: "bare"},
		{name: "none given", hosts: need, want: "Sudo password needed: h5, h6: become_password = true in the inventory (the login user's sudo asks for a password). Give it with -K (asked once for the run), --become-password-file FILE or PINERY_BECOME_PASSWORD."},
		{name: "empty file", hosts: need, flags: becomeFlags{file: file("\n")}, want: "Empty sudo password"},
		{name: "missing file", hosts: need, flags: becomeFlags{file: filepath.Join(dir, "nope")}, want: "Cannot read the sudo password file"},
		{name: "NUL", hosts: need, flags: becomeFlags{file: file("a\x00b\n")}, want: "Invalid sudo password"},
		{name: "-K and file", hosts: need, flags: becomeFlags{ask: true, file: file("x\n")}, want: "Conflicting flags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(becomeEnv, tt.env)
			var stderr bytes.Buffer
			g := &globals{become: tt.flags, stderr: &stderr, stdin: strings.NewReader("")}
			pw, diags := g.becomePassword(tt.hosts)
			got := string(pw)
			if diags.HasErrors() {
				got = diags[0].Summary + ": " + diags[0].Detail
				if tt.env != "" && strings.Contains(got, tt.env) {
					t.Errorf("the password is in the error: %s", got)
				}
			}
			if !strings.HasPrefix(got, tt.want) || (tt.want == "" && got != "") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.stderr)
			}
		})
	}
}

// -K asks once on the terminal, without echo: what is typed is not shown.
func TestAskBecomePassOnATerminal(t *testing.T) {
	master, tty := openPTY(t, 80, 24)
	var stderr bytes.Buffer
	g := &globals{become: becomeFlags{ask: true}, stderr: &stderr, stdin: tty}
	type result struct {
		pw  []byte
		err string
	}
	done := make(chan result, 1)
	go func() {
		pw, diags := g.becomePassword([]*inventory.Host{{Name: "h5", BecomePassword: true}, {Name: "h6", BecomePassword: true}})
		r := result{pw: pw}
		if diags.HasErrors() {
			r.err = diags.Error()
		}
		done <- r
	}()
	// Type only once echo is off, as a person would after the prompt.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("echo never turned off")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := master.Write([]byte("typed-pw\n")); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the password was never read")
	}
	if string(r.pw) != "typed-pw" || r.err != "" {
		t.Fatalf("got %q, %s", r.pw, r.err)
	}
	if got := stderr.String(); got != "sudo password (for h5, h6): \n" {
		t.Errorf("prompt: %q", got)
	}
	// What the terminal showed, up to a line written after the read.
	if _, err := tty.Write([]byte("END\n")); err != nil {
		t.Fatal(err)
	}
	shown, err := bufio.NewReader(master).ReadString('D')
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(shown, "typed-pw") {
		t.Errorf("the password was echoed: %q", shown)
	}
	if tio, _ := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); tio.Lflag&unix.ECHO == 0 {
		t.Error("echo was not turned back on")
	}
}
