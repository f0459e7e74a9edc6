package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// countingReader hands out data in reads of at most max bytes and notes
// the size of the first buffer it was given.
type countingReader struct {
	r     io.Reader
	max   int
	first int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.first == 0 {
		c.first = len(p)
	}
	if len(p) > c.max {
		p = p[:c.max]
	}
	return c.r.Read(p)
}

func TestCappedReadFrom(t *testing.T) {
	for _, n := range []int{0, 1, readChunk - 1, readChunk, readChunk + 1, 100_000} {
		data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		c := &capped{max: MaxOutput, stop: func() { t.Error("stopped under the limit") }}
		src := &countingReader{r: bytes.NewReader(data), max: 3000}
		got, err := io.Copy(c, src) // what x/crypto/ssh does with a session's stdout
		if err != nil || got != int64(n) || !bytes.Equal(c.Bytes(), data) {
			t.Fatalf("%d bytes: copied %d, err %v, equal %v", n, got, err, bytes.Equal(c.Bytes(), data))
		}
		if src.first >= 32<<10 {
			t.Errorf("%d bytes: io.Copy read through its own %d-byte buffer, not into the capped one", n, src.first)
		}
	}
}

func TestCappedLimit(t *testing.T) {
	for _, how := range []string{"ReadFrom", "Write"} {
		stopped := make(chan bool, 1)
		c := &capped{max: 1000, stop: func() { stopped <- true }}
		var err error
		data := strings.Repeat("x", 1500)
		if how == "ReadFrom" {
			_, err = c.ReadFrom(&countingReader{r: strings.NewReader(data), max: 300})
		} else {
			for i := 0; i < len(data) && err == nil; i += 300 {
				_, err = c.Write([]byte(data[i : i+300]))
			}
		}
		if !errors.Is(err, errOutputLimit) || !c.over || len(c.Bytes()) > 1000 {
			t.Errorf("%s past the limit: err %v, over %v, %d bytes kept", how, err, c.over, len(c.Bytes()))
		}
		<-stopped
	}
}

// shortWriter records the size of every write.
type shortWriter struct {
	bytes.Buffer
	largest int
}

func (w *shortWriter) Write(p []byte) (int, error) {
	w.largest = max(w.largest, len(p))
	return w.Buffer.Write(p)
}

func TestChunked(t *testing.T) {
	if chunked(nil) != nil {
		t.Error("chunked(nil) is not nil: a session would get an empty stdin instead of none")
	}
	data := strings.Repeat("probe script line\n", 10_000)
	var w shortWriter
	if n, err := io.Copy(&w, chunked(strings.NewReader(data))); err != nil || n != int64(len(data)) {
		t.Fatalf("copied %d of %d: %v", n, len(data), err)
	}
	if w.String() != data || w.largest > stdinChunk {
		t.Errorf("equal %v, largest write %d (at most %d)", w.String() == data, w.largest, stdinChunk)
	}
	buf := make([]byte, 64<<10)
	if n, _ := chunked(strings.NewReader(data)).Read(buf); n != stdinChunk {
		t.Errorf("one Read gave %d bytes, want %d", n, stdinChunk)
	}
}

// TestRunThroughSSH runs commands through SSH.Run against an in-process
// SSH server that runs them with sh: a large stdin (the probe script's
// path), a large stdout, stderr, the exit status, and a command that
// exits without reading its stdin.
func TestRunThroughSSH(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	s := inProcessSSH(t)
	ctx := context.Background()

	script := strings.Repeat("echo line; ", 20_000) + "\n" + "echo done; echo oops >&2; exit 3\n"
	res, err := s.Run(ctx, "exec sh -s", strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("line\n", 20_000) + "done\n"; string(res.Stdout) != want || string(res.Stderr) != "oops\n" || res.ExitCode != 3 {
		t.Errorf("stdout %d bytes (want %d), stderr %q, exit %d", len(res.Stdout), len(want), res.Stderr, res.ExitCode)
	}

	big := strings.Repeat("0123456789", 50_000) + "\n"
	res, err = s.Run(ctx, "cat", strings.NewReader(big))
	if err != nil || string(res.Stdout) != big || res.ExitCode != 0 {
		t.Errorf("cat of %d bytes: %d back, exit %d, %v", len(big), len(res.Stdout), res.ExitCode, err)
	}

	res, err = s.Run(ctx, "echo early", strings.NewReader(big))
	if err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("a command that does not read its stdin: %v", err)
	}
	if string(res.Stdout) != "early\n" {
		t.Errorf("a command that does not read its stdin: stdout %q", res.Stdout)
	}

	// More than the channel's window: the host stops taking stdin.
	huge := strings.Repeat("z", 8<<20)
	res, err = s.Run(ctx, "cat | wc -c", strings.NewReader(huge))
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "8388608" {
		t.Errorf("8 MiB of stdin: %q, %v", res.Stdout, err)
	}
	res, err = s.Run(ctx, "exit 4", strings.NewReader(huge))
	if err != nil || res.ExitCode != 4 {
		t.Errorf("exit 4 without reading 8 MiB of stdin: exit %d, %v", res.ExitCode, err)
	}
	// As with x/crypto's own stdin copy: the copy's EOF when the command
	// succeeded without reading it all.
	res, err = s.Run(ctx, "head -c 10 >/dev/null; echo read10", strings.NewReader(huge))
	if (err != nil && !errors.Is(err, io.EOF)) || string(res.Stdout) != "read10\n" {
		t.Errorf("10 bytes read of 8 MiB: %q, %v", res.Stdout, err)
	}

	res, err = s.Run(ctx, "true", nil)
	if err != nil || len(res.Stdout) != 0 || len(res.Stderr) != 0 || res.ExitCode != 0 {
		t.Errorf("true: %q %q %d %v", res.Stdout, res.Stderr, res.ExitCode, err)
	}
}

// inProcessSSH connects an *SSH to a server on a loopback listener that
// runs each exec request with sh -c, as root would on a target.
func inProcessSSH(t *testing.T) *SSH {
	t.Helper()
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveSSH(c, cfg)
			}()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn, chans, reqs, err := ssh.NewClientConn(c, "test", &ssh.ClientConfig{User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	s := &SSH{client: ssh.NewClient(conn, chans, reqs), user: "root", addr: "test"}
	t.Cleanup(func() { s.Close() })
	return s
}

func serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go serveSession(ch, creqs)
	}
}

func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(req.Type == "signal", nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("sh", "-c", p.Command)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		status := uint32(0)
		if err := cmd.Run(); err != nil {
			status = 255
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = uint32(ee.ExitCode())
			}
		}
		_ = ch.CloseWrite()
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], status)
		_, _ = ch.SendRequest("exit-status", false, b[:])
		return
	}
}
