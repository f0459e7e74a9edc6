package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"

	"github.com/pinery/pinery/engine/atomicfile"
)

// ScanHostKey returns the key a host presents, before any authentication
// and without trusting it (what ssh-keyscan does).
func ScanHostKey(ctx context.Context, address string, port int, timeout time.Duration) (ssh.PublicKey, error) {
	if port == 0 {
		port = 22
	}
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	addr := net.JoinHostPort(address, strconv.Itoa(port))
	var key ssh.PublicKey
	got := errors.New("host key received")
	cfg := &ssh.ClientConfig{
		User: "pinery",
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = k
			return got
		},
		// The strongest type first, as OpenSSH prefers.
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256},
		Timeout:           timeout,
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, dialReason(err))
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	_, _, _, err = ssh.NewClientConn(conn, addr, cfg)
	if key != nil {
		return key, nil
	}
	return nil, fmt.Errorf("%w: SSH handshake: %v", ErrUnreachable, err)
}

// Trust outcomes.
const (
	TrustAdded    = "added"
	TrustKnown    = "already trusted"
	TrustReplaced = "replaced"
)

// TrustHostKey records a host's key in a known_hosts file, atomically. A
// different key already recorded for the host is an error unless replace
// is set (a re-flashed board): then the host's plain lines are replaced.
func TrustHostKey(path, address string, port int, key ssh.PublicKey, replace bool) (string, error) {
	if port == 0 {
		port = 22
	}
	hostport := net.JoinHostPort(address, strconv.Itoa(port))
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	status := TrustAdded
	if len(old) > 0 {
		cb, err := xknownhosts.New(path)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		err = cb(hostport, &net.TCPAddr{IP: net.ParseIP(address), Port: port}, key)
		var ke *xknownhosts.KeyError
		switch {
		case err == nil:
			return TrustKnown, nil
		case errors.As(err, &ke) && len(ke.Want) > 0:
			if !replace {
				return "", fmt.Errorf("%s already has another key for %s (%s); if the board was re-flashed, give --replace", path, address, ssh.FingerprintSHA256(ke.Want[0].Key))
			}
			status = TrustReplaced
		}
	}
	norm := xknownhosts.Normalize(hostport)
	var kept []string
	for _, l := range strings.SplitAfter(string(old), "\n") {
		if l == "" {
			continue
		}
		if status == TrustReplaced {
			if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") && containsHost(f[0], norm) {
				continue
			}
		}
		kept = append(kept, l)
	}
	out := strings.Join(kept, "")
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	out += xknownhosts.Line([]string{norm}, key) + "\n"
	if err := atomicfile.Write(path, []byte(out), 0o644); err != nil {
		return "", err
	}
	if status == TrustReplaced {
		// A hashed line for the host would still disagree.
		cb, err := xknownhosts.New(path)
		if err == nil {
			if err := cb(hostport, &net.TCPAddr{IP: net.ParseIP(address), Port: port}, key); err != nil {
				return "", fmt.Errorf("%s still holds another key for %s in a hashed line: remove it with ssh-keygen -R %s -f %s", path, address, address, path)
			}
		}
	}
	return status, nil
}

func containsHost(field, host string) bool {
	for _, h := range strings.Split(field, ",") {
		if h == host {
			return true
		}
	}
	return false
}
