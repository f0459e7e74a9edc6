package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"al.essio.dev/pkg/shellescape"
)

// ErrBecome: sudo did not let the login user run the command as root (a
// refused password, no password given where one is needed, no sudo rule).
var ErrBecome = errors.New("sudo refused")

// becomeError says what sudo did; it is an ErrBecome.
type becomeError string

func (e becomeError) Error() string      { return string(e) }
func (becomeError) Is(target error) bool { return target == ErrBecome }

// sudoPrompt is the prompt sudo -S is told to print: unique, so that it
// is told apart from sudo's other messages (a lecture, "Sorry, try
// again."). It holds no % (sudo expands those).
const sudoPrompt = "[pinery: sudo password]"

// becomeMarker is what the command prints on stderr once sudo has let it
// run: from there on stdin is the command's own, and stderr too.
const becomeMarker = "pinery-become-ok"

// sudoCommand runs the quoted shell command cmd as root through sudo: with
// a password, sudo -S reads it as the first line of stdin (never on a
// command line, where ps would show it); without, sudo -n fails at once
// rather than wait for a password nobody will type.
func sudoCommand(cmd string, password bool) string {
	flags := "-n"
	if password {
		flags = "-S -p " + shellescape.Quote(sudoPrompt)
	}
	return "sudo " + flags + " sh -c 'echo " + becomeMarker + " >&2; exec sh -c \"$1\"' sh " + shellescape.Quote(cmd)
}

// maxSudoChatter bounds what sudo may print before the command runs.
const maxSudoChatter = 64 << 10

// sudoGate watches a session's stderr until the command announces itself
// (becomeMarker), passing every byte through to w. With a password, its
// feed gives sudo the password at the first prompt, and the command its
// stdin only once it runs; a second prompt means the password was refused,
// and sudo is then given no more (end of input: it gives up).
type sudoGate struct {
	w io.Writer

	mu      sync.Mutex
	head    []byte // stderr until the marker
	prompts int
	ran     bool

	changed chan struct{} // a prompt or the marker was seen (buffered 1)
	ended   chan struct{} // the session is over
}

func newSudoGate(w io.Writer) *sudoGate {
	return &sudoGate{w: w, changed: make(chan struct{}, 1), ended: make(chan struct{})}
}

func (g *sudoGate) Write(p []byte) (int, error) {
	g.mu.Lock()
	if !g.ran && len(g.head) < maxSudoChatter {
		g.head = append(g.head, p...)
		prompts := bytes.Count(g.head, []byte(sudoPrompt))
		ran := bytes.Contains(g.head, []byte(becomeMarker+"\n"))
		if prompts != g.prompts || ran {
			g.prompts, g.ran = prompts, ran
			select {
			case g.changed <- struct{}{}:
			default:
			}
		}
	}
	g.mu.Unlock()
	return g.w.Write(p)
}

func (g *sudoGate) state() (prompts int, ran bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.prompts, g.ran
}

// end tells feed that the session is over.
func (g *sudoGate) end() { close(g.ended) }

// feed writes the password at sudo's first prompt and then, once the
// command runs, stdin; it closes w when done or refused.
func (g *sudoGate) feed(w io.WriteCloser, password []byte, stdin io.Reader) {
	defer w.Close()
	sent := false
	for {
		select {
		case <-g.ended:
			return
		case <-g.changed:
		}
		prompts, ran := g.state()
		switch {
		case ran:
			if stdin != nil {
				_, _ = io.Copy(w, chunked(stdin))
			}
			return
		case prompts > 1:
			return
		case prompts == 1 && !sent:
			line := make([]byte, 0, len(password)+1)
			_, _ = w.Write(append(append(line, password...), '\n'))
			sent = true
		}
	}
}

// afterMarker drops what sudo printed before the command ran (its prompt,
// a lecture) from stderr.
func afterMarker(stderr []byte) []byte {
	if _, rest, ok := bytes.Cut(stderr, []byte(becomeMarker+"\n")); ok {
		return rest
	}
	return stderr
}

// refusal explains why sudo did not run the command, from what it printed
// (stderr without the process group line) and how many prompts it made.
func refusal(stderr []byte, prompts int, user, addr string) error {
	if prompts > 1 {
		return becomeError(fmt.Sprintf("sudo refused the password for user %s on %s", user, addr))
	}
	msg := strings.TrimSpace(strings.ReplaceAll(string(stderr), sudoPrompt, ""))
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	if msg == "" {
		msg = "no message"
	}
	hint := ""
	if prompts == 0 && strings.Contains(msg, "password is required") {
		hint = "; if this user's sudo needs a password, say become_password = true for the host in the inventory and give it with -K, PINERY_BECOME_PASSWORD or --become-password-file"
	}
	return becomeError(fmt.Sprintf("sudo did not run the command as root for user %s on %s (%s)%s", user, addr, msg, hint))
}
