package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"

	"github.com/pinery/pinery/engine/resource"
)

// SSHConfig says how to reach one host.
type SSHConfig struct {
	Address        string
	Port           int
	User           string
	IdentityFile   string // "" means ssh-agent only
	KnownHosts     string // known_hosts file; checked strictly
	ConnectTimeout time.Duration
	// BecomePassword is the login user's sudo password, for a host whose
	// sudo asks for one (nil: sudo -n, passwordless). It is sensitive: it
	// goes to sudo on stdin only, and never into an error or a log.
	BecomePassword []byte
}

// SSH is one connection to a host, reused for every command of a run.
type SSH struct {
	client     *ssh.Client
	sudo       bool
	password   []byte // sudo's, when it needs one
	user, addr string // for messages
	sessions   atomic.Int64
	dead       atomic.Bool // closed because the host stopped answering
}

// abandon closes a connection whose host stopped answering.
func (s *SSH) abandon() {
	s.dead.Store(true)
	s.client.Close()
}

// DialSSH connects and authenticates. Host keys are checked against the
// known_hosts file: an unknown or changed key is refused.
func DialSSH(ctx context.Context, cfg SSHConfig) (*SSH, error) {
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	addr := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
	cfg.KnownHosts, cfg.IdentityFile = expandHome(cfg.KnownHosts), expandHome(cfg.IdentityFile)
	clientCfg, err := clientConfig(cfg, addr)
	if err != nil {
		return nil, err
	}

	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, dialReason(err))
	}
	// The handshake gets the same bound (a frozen board accepts TCP in its
	// kernel but never answers the SSH banner), and ends with ctx too.
	_ = conn.SetDeadline(time.Now().Add(cfg.ConnectTimeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, clientCfg)
	if !stop() {
		err = fmt.Errorf("%w: %w", ErrUnreachable, ctx.Err())
	}
	if err != nil {
		conn.Close()
		if errors.Is(err, ErrUnreachable) {
			return nil, err
		}
		return nil, classifyHandshake(err, cfg)
	}
	_ = conn.SetDeadline(time.Time{})
	s := &SSH{client: ssh.NewClient(c, chans, reqs), sudo: cfg.User != "root", user: cfg.User, addr: cfg.Address}
	if s.sudo && len(cfg.BecomePassword) > 0 {
		s.password = cfg.BecomePassword
	}
	// Once the connection is gone (the host rebooted, sshd was killed), a
	// new session would wait forever for an answer nobody reads: x/crypto's
	// OpenChannel does not fail on a connection whose reader has ended.
	go func() { _ = s.client.Wait(); s.dead.Store(true) }()
	return s, nil
}

// clientConfig builds the SSH client configuration for one host. The parsed
// known_hosts and identity files are shared with every other dial.
func clientConfig(cfg SSHConfig, addr string) (*ssh.ClientConfig, error) {
	auth, err := authMethods(cfg.IdentityFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuth, err)
	}
	if cfg.KnownHosts == "" {
		return nil, fmt.Errorf("%w: no known_hosts file configured", ErrHostKeyUnknown)
	}
	kh, err := knownHostsCache.get(cfg.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("%w: reading known_hosts: %v", ErrHostKeyUnknown, err)
	}
	return &ssh.ClientConfig{
		User:            cfg.User,
		Auth:            auth,
		HostKeyCallback: kh.callback,
		// Offer the key types known_hosts has for this host first, or the
		// server may present another type and fail as a "mismatch".
		HostKeyAlgorithms: kh.db.HostKeyAlgorithms(addr),
		Timeout:           cfg.ConnectTimeout,
	}, nil
}

// authMethods uses the identity file when given, and the agent when present.
func authMethods(identity string) ([]ssh.AuthMethod, error) {
	var auth []ssh.AuthMethod
	if identity != "" {
		signer, err := signerCache.get(identity)
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %v", identity, err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if _, err := sharedAgent(sock); err == nil {
			auth = append(auth, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return agentSigners(sock) }))
		}
	}
	if len(auth) == 0 {
		return nil, errors.New("no identity_file given and no ssh-agent (SSH_AUTH_SOCK) available")
	}
	return auth, nil
}

func dialReason(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "connection timed out"
	case strings.Contains(err.Error(), "refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "no route"):
		return "no route to host"
	}
	return err.Error()
}

func classifyHandshake(err error, cfg SSHConfig) error {
	switch {
	case knownhosts.IsHostKeyChanged(err):
		return fmt.Errorf("%w: the key %s presents differs from the one in %s; never proceeding. If the board was re-flashed, check the new key's fingerprint and record it with pinery hosts trust --replace HOST",
			ErrHostKeyMismatch, cfg.Address, cfg.KnownHosts)
	case knownhosts.IsHostUnknown(err):
		return fmt.Errorf("%w: %s is not in %s; add its key after checking it: pinery hosts trust HOST (or ssh-keyscan -p %d %s >> %s)",
			ErrHostKeyUnknown, cfg.Address, cfg.KnownHosts, cfg.Port, cfg.Address, cfg.KnownHosts)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("%w: user %q was refused (check identity_file, the agent and authorized_keys)", ErrAuth, cfg.User)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: SSH handshake timed out (host hung or sshd not answering)", ErrUnreachable)
	}
	return fmt.Errorf("%w: SSH handshake: %v", ErrUnreachable, err)
}

// Run runs cmd with sh on the host, as root: through sudo when the login
// user is not root. stdout and stderr are kept apart. When ctx ends, the
// remote process is signalled and the session closed; a host that no
// longer answers has its connection closed, so that Run returns soon after
// ctx ends even on a dead link.
func (s *SSH) Run(ctx context.Context, cmd string, stdin io.Reader) (resource.Result, error) {
	s.sessions.Add(1)
	sess, err := s.open(ctx)
	if err != nil {
		return resource.Result{}, err
	}
	defer sess.Close()
	if err := ctx.Err(); err != nil {
		return resource.Result{}, err
	}
	return s.exec(ctx, sess, cmd, stdin, true)
}

// answerGrace is how long a host whose caller gave up may take to answer a
// call already sent (open a session, start a command) before its link is
// taken for dead.
const answerGrace = 1500 * time.Millisecond

// await runs f, a call that waits for the host, until ctx ends; then it
// gives the host answerGrace to answer, and past that closes the
// connection: on a dead link the call would wait for TCP to give up, far
// past any timeout, and closing is what ends it.
func (s *SSH) await(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(answerGrace):
		s.abandon()
		// Closing ends most waits at once; a channel open on a connection
		// whose reader already ended never returns: it is left behind.
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return fmt.Errorf("%w: the host stopped answering (%w)", ErrUnreachable, ctx.Err())
	}
}

// open opens a session, waiting for it past ctx's end no longer than
// answerGrace.
func (s *SSH) open(ctx context.Context) (*ssh.Session, error) {
	if s.dead.Load() {
		return nil, fmt.Errorf("%w: the host stopped answering, and its connection was closed", ErrUnreachable)
	}
	var sess *ssh.Session
	err := s.await(ctx, func() (err error) {
		sess, err = s.client.NewSession()
		return err
	})
	switch {
	case errors.Is(err, ErrUnreachable):
		return nil, fmt.Errorf("opening a session: %w", err)
	case err != nil:
		return nil, fmt.Errorf("%w: opening a session: %v", ErrUnreachable, err)
	}
	return sess, nil
}

// exec runs cmd on an open session. An interruptible command is ended
// with its process group when ctx ends.
func (s *SSH) exec(ctx context.Context, sess *ssh.Session, cmd string, stdin io.Reader, interruptible bool) (resource.Result, error) {
	// Past the limit the session is ended: the copy stops reading, and a
	// command still writing would otherwise block forever.
	stop := func() { _ = sess.Signal(ssh.SIGKILL); sess.Close() }
	out, errb := &capped{max: MaxOutput, stop: stop}, &capped{max: MaxOutput / 16, stop: stop}
	sess.Stdout, sess.Stderr = out, errb
	wrapped := "sh -c " + shellescape.Quote(cmd)
	var gate *sudoGate
	var feed *stdinFeed
	switch {
	case s.password != nil:
		gate = newSudoGate(errb)
		sess.Stderr = gate
		w, err := sess.StdinPipe()
		if err != nil {
			return resource.Result{}, fmt.Errorf("starting command: %w", err)
		}
		defer gate.end()
		go gate.feed(w, s.password, stdin)
		wrapped = sudoCommand(cmd, true)
	case s.sudo:
		gate = newSudoGate(errb)
		sess.Stderr = gate
		wrapped = sudoCommand(cmd, false)
		fallthrough
	default:
		if stdin != nil {
			w, err := sess.StdinPipe()
			if err != nil {
				return resource.Result{}, fmt.Errorf("starting command: %w", err)
			}
			feed = &stdinFeed{w: w, r: stdin}
		}
	}
	// sshd starts the command as a session leader: its pid is the process
	// group of everything the command starts. It is told first, so that an
	// interrupted command can be ended with its children (closing the
	// session, or a signal request that OpenSSH may ignore, leaves them
	// running).
	wrapped = "echo " + pgidMarker + "$$ >&2; exec " + wrapped
	if err := s.await(ctx, func() error { return sess.Start(wrapped) }); err != nil {
		return resource.Result{}, fmt.Errorf("starting command: %w", err)
	}
	feed.start()
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	var err error
	select {
	case err = <-done:
		if err == nil {
			err = feed.result(sess)
		}
	case <-ctx.Done():
		if interruptible {
			s.killGroup(errb.Bytes())
		}
		// Even these wait when the link is dead and the send buffer full.
		go func() { _ = sess.Signal(ssh.SIGKILL); sess.Close() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			// The host does not answer (hung, frozen, cut off): this
			// connection is of no more use, and closing it is what ends
			// the wait.
			s.abandon()
			<-done
		}
		stderr, _ := splitPgid(errb.Bytes())
		if gate != nil {
			stderr = afterMarker(stderr)
		}
		return resource.Result{Stdout: out.Bytes(), Stderr: stderr, ExitCode: -1}, ctx.Err()
	}
	stderr, _ := splitPgid(errb.Bytes())
	res := resource.Result{Stdout: out.Bytes(), Stderr: stderr}
	if out.over || errb.over {
		return res, fmt.Errorf("the host sent more than %d MiB of output for one command; refused", MaxOutput>>20)
	}
	var ee *ssh.ExitError
	var me *ssh.ExitMissingError
	switch {
	case errors.As(err, &me):
		s.dead.Store(true)
		return res, fmt.Errorf("%w: connection lost during command", ErrUnreachable)
	case err != nil && !errors.As(err, &ee):
		return res, err
	}
	if gate != nil {
		if prompts, ran := gate.state(); !ran {
			return res, refusal(stderr, prompts, s.user, s.addr)
		}
		res.Stderr = afterMarker(stderr)
	}
	if ee != nil {
		res.ExitCode = ee.ExitStatus()
	}
	return res, nil
}

const pgidMarker = "pinery-pgid="

// splitPgid takes the process group line the command wrapper writes first
// off stderr.
func splitPgid(stderr []byte) (rest []byte, pgid int) {
	line, tail, ok := bytes.Cut(stderr, []byte("\n"))
	if !ok || !bytes.HasPrefix(line, []byte(pgidMarker)) {
		return stderr, 0
	}
	n, err := strconv.Atoi(string(line[len(pgidMarker):]))
	if err != nil || n <= 1 {
		return stderr, 0
	}
	return tail, n
}

// killGroup ends an interrupted command's process group from a session of
// its own, bounded in time: the connection may be what failed, and a host
// that does not open the session at once has its connection closed.
// SIGTERM first, so that scripts' traps remove their temporary files;
// SIGKILL for what is left after a second.
func (s *SSH) killGroup(stderr []byte) {
	_, pgid := splitPgid(stderr)
	if pgid == 0 {
		return
	}
	// (No "--": dash's kill takes "-PGID" after the signal, not after "--".)
	kill := fmt.Sprintf("kill -TERM -%[1]d 2>/dev/null || exit 0; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; kill -0 -%[1]d 2>/dev/null || exit 0; done; kill -KILL -%[1]d 2>/dev/null; :", pgid)
	// Already past the caller's end: the open gets answerGrace only.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	sess, err := s.open(ctx)
	cancel()
	if err != nil {
		return
	}
	defer sess.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = s.exec(ctx, sess, kill, nil, false)
}

// MaxOutput bounds what one command may send back (stdout; stderr gets a
// sixteenth), so that a broken or hostile host cannot exhaust the
// controller's memory.
const MaxOutput = 256 << 20

// capped is a buffer that refuses to grow past max: the session's copy
// stops, and Run reports it. Its ReadFrom (buffers.go) keeps the limit.
// (Not an embedded bytes.Buffer: io.Copy would use the buffer's own
// ReadFrom and bypass the limit.)
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
	stop func()
}

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.max {
		if !c.over {
			c.over = true
			go c.stop()
		}
		return 0, errOutputLimit
	}
	return c.buf.Write(p)
}

func (c *capped) Bytes() []byte { return c.buf.Bytes() }

// Sessions counts the command sessions opened on this connection.
func (s *SSH) Sessions() int { return int(s.sessions.Load()) }

// Close ends the connection.
func (s *SSH) Close() error { return s.client.Close() }

var _ Host = (*SSH)(nil)
var _ Host = (*Local)(nil)

// expandHome resolves a leading ~/ (used for default known_hosts paths).
func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return h + p[1:]
		}
	}
	return p
}
