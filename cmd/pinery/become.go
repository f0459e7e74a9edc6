package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// becomeEnv holds the sudo password for CI, where nobody types it.
const becomeEnv = "PINERY_BECOME_PASSWORD"

// becomeFlags say where the sudo password of become_password hosts comes
// from.
type becomeFlags struct {
	ask  bool   // -K: asked on the terminal
	file string // --become-password-file
}

// becomePassword returns the sudo password when a selected host needs one
// (become_password = true), nil when none does. It comes from
// --become-password-file, from the terminal (-K, asked once for the whole
// run, without echo) or from $PINERY_BECOME_PASSWORD, and is the same for
// every such host.
func (g *globals) becomePassword(hosts []*inventory.Host) ([]byte, hcl.Diagnostics) {
	var need []string
	for _, h := range hosts {
		if h.BecomePassword {
			need = append(need, h.Name)
		}
	}
	if g.become.ask && g.become.file != "" {
		return nil, errorDiag("Conflicting flags", "Give the sudo password either with -K (--ask-become-pass) or with --become-password-file, not both.")
	}
	if len(need) == 0 {
		if g.become.ask {
			fmt.Fprintln(g.stderr, "pinery: -K: no selected host has become_password = true in the inventory; not asking for a sudo password")
		}
		return nil, nil
	}
	var pw []byte
	switch {
	case g.become.file != "":
		data, err := os.ReadFile(g.become.file)
		if err != nil {
			return nil, errorDiag("Cannot read the sudo password file", err.Error())
		}
		pw = firstLine(data)
	case g.become.ask:
		tty, err := g.terminal()
		if err != nil {
			return nil, errorDiag("Cannot ask for the sudo password", err.Error()+". Give it with --become-password-file FILE or "+becomeEnv+" instead.")
		}
		defer tty.Close()
		pw, err = askPassword(tty, g.stderr, fmt.Sprintf("sudo password (for %s): ", listNames(need, 5)))
		if err != nil {
			return nil, errorDiag("Cannot read the sudo password", err.Error())
		}
	default:
		pw = []byte(os.Getenv(becomeEnv))
		if len(pw) == 0 {
			return nil, errorDiag("Sudo password needed",
				fmt.Sprintf("%s: become_password = true in the inventory (the login user's sudo asks for a password). Give it with -K (asked once for the run), --become-password-file FILE or %s.", listNames(need, 5), becomeEnv))
		}
	}
	if len(pw) == 0 {
		return nil, errorDiag("Empty sudo password", "The sudo password given is empty.")
	}
	if bytes.ContainsAny(pw, "\r\n\x00") {
		return nil, errorDiag("Invalid sudo password", "The sudo password must be one line, without NUL bytes.")
	}
	return pw, nil
}

// firstLine is a password file's content without its line ending.
func firstLine(data []byte) []byte {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// ttyFile is a terminal to read a password from.
type ttyFile interface {
	io.Closer
	Fd() uintptr
}

// terminal is stdin when it is a terminal, else the controlling terminal.
func (g *globals) terminal() (ttyFile, error) {
	if f, ok := g.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return keepOpen{f}, nil
	}
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("-K needs a terminal: %v", err)
	}
	return f, nil
}

// keepOpen is stdin as the terminal: reading the password does not close it.
type keepOpen struct{ *os.File }

func (keepOpen) Close() error { return nil }

// askPassword prompts on w and reads one line from the terminal without
// echo.
func askPassword(tty ttyFile, w io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(w, prompt)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(w)
	return pw, err
}

// becomeDialer connects to hosts, giving sudo the password on the hosts
// that need one; nil (the engine's own) without a password.
func becomeDialer(pw []byte) engine.Dialer {
	if pw == nil {
		return nil
	}
	return func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
		if !h.BecomePassword {
			return engine.Dial(ctx, h)
		}
		cfg := engine.SSHConfig(h)
		cfg.BecomePassword = pw
		return transport.DialSSH(ctx, cfg)
	}
}

// dialer is how a command that is not a plan or an apply reaches hosts:
// with the sudo password from $PINERY_BECOME_PASSWORD when a selected host
// needs one.
func (g *globals) dialer(hosts []*inventory.Host) (engine.Dialer, bool) {
	pw, diags := g.becomePassword(hosts)
	if g.writeDiags(diags) {
		return nil, false
	}
	if d := becomeDialer(pw); d != nil {
		return d, true
	}
	return engine.Dial, true
}
