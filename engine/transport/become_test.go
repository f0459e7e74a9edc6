package transport

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is the session's stdin as the gate's feed sees it.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	closed chan struct{}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) Close() error { close(r.closed); return nil }

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// What sudo (and a hostile or chatty host) may print on stderr, in pieces
// as the session's copy delivers them, and what the feed must then send:
// the password once, at the first prompt; the command's stdin only after
// the marker; nothing after a second prompt.
func TestSudoGateFeed(t *testing.T) {
	const pw, in = "hunter2", "the script\n"
	pg := pgidMarker + "42\n"
	tests := []struct {
		name   string
		chunks []string
		want   string // what the command's stdin received
		ran    bool
		stderr string // afterMarker's result
	}{
		{"prompt then run", []string{pg, sudoPrompt, becomeMarker + "\nwarn\n"}, pw + "\n" + in, true, "warn\n"},
		{"no prompt (NOPASSWD, cached)", []string{pg + becomeMarker + "\n", "x"}, in, true, "x"},
		{"prompt split over writes", []string{pg + "[pinery: su", "do password]", becomeMarker[:5], becomeMarker[5:] + "\n"}, pw + "\n" + in, true, ""},
		{"lecture first", []string{pg + "We trust you have received the usual lecture\n" + sudoPrompt, becomeMarker + "\n"}, pw + "\n" + in, true, ""},
		{"refused", []string{pg, sudoPrompt, "Sorry, try again.\n" + sudoPrompt}, pw + "\n", false, pg + sudoPrompt + "Sorry, try again.\n" + sudoPrompt},
		{"refused at once", []string{pg + sudoPrompt + "Sorry, try again.\n" + sudoPrompt}, "", false, pg + sudoPrompt + "Sorry, try again.\n" + sudoPrompt},
		{"marker not at a line end", []string{pg + sudoPrompt + becomeMarker + "x\n"}, pw + "\n", false, pg + sudoPrompt + becomeMarker + "x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			g := newSudoGate(&stderr)
			w := &recorder{closed: make(chan struct{})}
			go g.feed(w, []byte(pw), strings.NewReader(in))
			for _, c := range tt.chunks {
				if _, err := g.Write([]byte(c)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond) // as a host answers
			}
			if !tt.ran {
				time.Sleep(50 * time.Millisecond)
				g.end()
			}
			select {
			case <-w.closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the feed never closed stdin")
			}
			if got := w.String(); got != tt.want {
				t.Errorf("stdin = %q, want %q", got, tt.want)
			}
			if got := stderr.String(); got != strings.Join(tt.chunks, "") {
				t.Errorf("stderr not passed through: %q", got)
			}
			if _, ran := g.state(); ran != tt.ran {
				t.Errorf("ran = %v, want %v", ran, tt.ran)
			}
			if got, _ := splitPgid(stderr.Bytes()); string(afterMarker(got)) != strings.TrimPrefix(tt.stderr, pg) {
				t.Errorf("stderr after the marker = %q, want %q", afterMarker(got), tt.stderr)
			}
		})
	}
}

// The feed never sends the password twice, even when the prompt shows up
// again before the refusal is seen whole.
func TestSudoGatePasswordOnce(t *testing.T) {
	g := newSudoGate(io.Discard)
	w := &recorder{closed: make(chan struct{})}
	go g.feed(w, []byte("pw"), nil)
	g.Write([]byte(sudoPrompt))
	time.Sleep(20 * time.Millisecond)
	g.Write([]byte(sudoPrompt + sudoPrompt))
	<-w.closed
	if got := w.String(); got != "pw\n" {
		t.Errorf("stdin = %q", got)
	}
}

func TestRefusal(t *testing.T) {
	tests := []struct {
		stderr  string
		prompts int
		want    string
	}{
		{sudoPrompt + "Sorry, try again.\n" + sudoPrompt, 2, "sudo refused the password for user pw on 10.0.0.5"},
		{"sudo: a password is required\n", 0, "sudo did not run the command as root for user pw on 10.0.0.5 (sudo: a password is required); if this user's sudo needs a password, say become_password = true"},
		{sudoPrompt + "pw is not in the sudoers file.\n", 1, "(pw is not in the sudoers file.)"},
		{"", 0, "(no message)"},
		{strings.Repeat("x", 2000), 0, strings.Repeat("x", 512) + "…)"},
	}
	for _, tt := range tests {
		err := refusal([]byte(tt.stderr), tt.prompts, "pw", "10.0.0.5")
		if !errors.Is(err, ErrBecome) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("refusal(%q, %d) = %v, want it to hold %q", tt.stderr, tt.prompts, err, tt.want)
		}
		if strings.Contains(err.Error(), sudoPrompt) {
			t.Errorf("the prompt shows in %v", err)
		}
	}
}

// The wrapped command keeps the password off every command line and runs
// cmd as one argument, quoted once.
func TestSudoCommand(t *testing.T) {
	got := sudoCommand("echo 'a b'", true)
	want := `sudo -S -p '[pinery: sudo password]' sh -c 'echo pinery-become-ok >&2; exec sh -c "$1"' sh 'echo '"'"'a b'"'"''`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := sudoCommand("true", false); !strings.HasPrefix(got, "sudo -n sh -c ") {
		t.Errorf("passwordless: %s", got)
	}
}
