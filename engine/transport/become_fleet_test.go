package transport_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// pwUser is the test user whose sudo asks for a password.
const pwUser = "pinerypw"

// addPasswordUser creates, on a fleet host over root's connection, a login
// user with the fleet key whose sudo rule needs its password, and removes
// it when the test ends. It returns the password.
func addPasswordUser(t *testing.T, root transport.Host) string {
	t.Helper()
	pw := "pw-" + rand.Text()
	script := `set -e
userdel -r ` + pwUser + ` 2>/dev/null || :
useradd -m -s /bin/sh ` + pwUser + `
chpasswd
install -d -m 700 -o ` + pwUser + ` -g ` + pwUser + ` /home/` + pwUser + `/.ssh
install -m 600 -o ` + pwUser + ` -g ` + pwUser + ` /root/.ssh/authorized_keys /home/` + pwUser + `/.ssh/authorized_keys
echo '` + pwUser + ` ALL=(ALL:ALL) ALL' > /etc/sudoers.d/` + pwUser + `.tmp
chmod 440 /etc/sudoers.d/` + pwUser + `.tmp
visudo -cqf /etc/sudoers.d/` + pwUser + `.tmp
mv /etc/sudoers.d/` + pwUser + `.tmp /etc/sudoers.d/` + pwUser + `
`
	run(t, root, script, pwUser+":"+pw+"\n")
	t.Cleanup(func() {
		run(t, root, "rm -f /etc/sudoers.d/"+pwUser+"; pkill -KILL -u "+pwUser+" || :; sleep 0.2; userdel -r "+pwUser+" 2>/dev/null || :", "")
	})
	return pw
}

func run(t *testing.T, h transport.Host, cmd, stdin string) resource.Result {
	t.Helper()
	res, err := h.Run(context.Background(), cmd, strings.NewReader(stdin))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%s: %v, exit %d: %s", cmd, err, res.ExitCode, res.Stderr)
	}
	return res
}

// dialAs connects to a fleet host as user, with a sudo password or none.
func dialAs(t *testing.T, name, user string, pw []byte) transport.Host {
	t.Helper()
	h := fleettest.Host(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := transport.DialSSH(ctx, transport.SSHConfig{
		Address: h.Address, Port: h.Port, User: user, IdentityFile: h.IdentityFile,
		KnownHosts: h.KnownHosts, ConnectTimeout: h.ConnectTimeout, BecomePassword: pw,
	})
	if err != nil {
		t.Fatalf("dial %s as %s: %v", name, user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A login user whose sudo needs a password runs commands as root with the
// password given once per connection: stdin larger than a pipe buffer
// reaches the command intact after sudo took its line; stderr holds the
// command's own only; the password shows in no output, error or process
// list; a wrong password or none is a clear error naming the user and
// host, not a hang; an interrupted command is ended through sudo too.
func TestFleetBecomePassword(t *testing.T) {
	root := fleettest.Dial(t, "h6")
	pw := addPasswordUser(t, root)
	addr := fleettest.Host(t, "h6").Address
	var seen []string // every output and error, for the secret scan
	keep := func(res resource.Result, err error) {
		seen = append(seen, string(res.Stdout), string(res.Stderr), fmt.Sprint(err))
	}
	h := dialAs(t, "h6", pwUser, []byte(pw))

	res, err := h.Run(context.Background(), "id -u; echo to-stderr >&2; exit 3", nil)
	keep(res, err)
	if err != nil || string(res.Stdout) != "0\n" || string(res.Stderr) != "to-stderr\n" || res.ExitCode != 3 {
		t.Fatalf("id -u through sudo: %+v, %v", res, err)
	}

	// 1 MiB of stdin, well over a pipe buffer, with no trailing newline.
	in := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	in = append(in, "tail"...)
	sum := sha256.Sum256(in)
	res, err = h.Run(context.Background(), "sha256sum | cut -d' ' -f1", bytes.NewReader(in))
	keep(res, err)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("stdin through sudo -S: %q %q, %v", res.Stdout, res.Stderr, err)
	}

	// The process list while a command runs as root for the user.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { _, _ = h.Run(ctx, "sleep 3", nil) }()
	time.Sleep(1500 * time.Millisecond)
	ps := run(t, root, "ps -eo user,args", "")
	if !strings.Contains(string(ps.Stdout), "sudo -S") {
		t.Errorf("sudo not seen running:\n%s", ps.Stdout)
	}
	seen = append(seen, string(ps.Stdout))

	// Interrupted: the kill goes through sudo with the password too.
	ictx, icancel := context.WithTimeout(context.Background(), time.Second)
	defer icancel()
	res, err = h.Run(ictx, "sleep 61 & sleep 62", nil)
	keep(res, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("interrupted: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if left := run(t, root, "pgrep -af 'sleep 6[12]' || :", ""); strings.TrimSpace(string(left.Stdout)) != "" {
		t.Errorf("left running:\n%s", left.Stdout)
	}

	// A wrong password.
	bad := dialAs(t, "h6", pwUser, []byte(pw+"-wrong"))
	start := time.Now()
	res, err = bad.Run(context.Background(), "echo ran", strings.NewReader("stdin\n"))
	keep(res, err)
	want := "sudo refused the password for user " + pwUser + " on " + addr
	if !errors.Is(err, transport.ErrBecome) || !strings.Contains(err.Error(), want) {
		t.Errorf("wrong password: %v, want %q", err, want)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the refusal took %v", d)
	}

	// No password where sudo needs one: sudo -n, and a hint.
	none := dialAs(t, "h6", pwUser, nil)
	res, err = none.Run(context.Background(), "echo ran", nil)
	keep(res, err)
	if !errors.Is(err, transport.ErrBecome) || !strings.Contains(err.Error(), "become_password = true") {
		t.Errorf("no password: %v", err)
	}

	// A password given for a user whose sudo does not ask (NOPASSWD): it
	// is not sent, and stdin reaches the command unchanged.
	nopw := dialAs(t, "h6", "pinery", []byte(pw))
	res, err = nopw.Run(context.Background(), "id -u; cat", strings.NewReader("only this\n"))
	keep(res, err)
	if err != nil || string(res.Stdout) != "0\nonly this\n" || len(res.Stderr) != 0 {
		t.Errorf("NOPASSWD user with a password: %+v, %v", res, err)
	}

	for _, s := range seen {
		if strings.Contains(s, pw) {
			t.Fatalf("the password leaked into %q", s)
		}
	}
	if log := run(t, root, "journalctl -q --no-pager -n 200 2>/dev/null || :", ""); bytes.Contains(log.Stdout, []byte(pw)) {
		t.Fatal("the password is in the host's journal")
	}
}
