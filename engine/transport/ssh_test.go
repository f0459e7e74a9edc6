package transport

import (
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// fleetHost is one line of a generated known_hosts.
type fleetHost struct {
	cfg SSHConfig
	key ssh.PublicKey
}

func (h fleetHost) addr() string { return net.JoinHostPort(h.cfg.Address, strconv.Itoa(h.cfg.Port)) }

func newHostKey(t testing.TB) ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKnownHosts writes n host lines as a fleet's known_hosts has them: on
// port 22 and on other ports, every other one hashed if hashed is set
// (Debian's HashKnownHosts), plus a comment, a wildcard line and a
// @cert-authority line.
func writeKnownHosts(t testing.TB, n int, hashed bool) (string, []fleetHost) {
	var b strings.Builder
	b.WriteString("# generated\n")
	hosts := make([]fleetHost, n)
	for i := range hosts {
		h := fleetHost{cfg: SSHConfig{Address: fmt.Sprintf("10.%d.%d.%d", i%3, i/250, i%250+1), Port: 22}, key: newHostKey(t)}
		if i%4 == 1 {
			h.cfg.Port = 2200 + i
		}
		name := xknownhosts.Normalize(h.addr())
		if hashed && i%2 == 0 {
			name = xknownhosts.HashHostname(name)
		}
		b.WriteString(xknownhosts.Line([]string{name}, h.key) + "\n")
		hosts[i] = h
	}
	b.WriteString(xknownhosts.Line([]string{"*.example.net"}, newHostKey(t)) + "\n")
	b.WriteString("@cert-authority " + xknownhosts.Line([]string{"*.ca.example.net"}, newHostKey(t)) + "\n")
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, hosts
}

func writeIdentity(t testing.TB) string {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var remote = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}

// Hundreds of parallel dials share one parse of known_hosts and of the
// identity file, and each still gets the strict check and the host key
// algorithms a fresh parse gives.
func TestClientConfigParsesFilesOnce(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	kh, hosts := writeKnownHosts(t, 300, true)
	id := writeIdentity(t)
	fresh, err := knownhosts.NewDB(kh)
	if err != nil {
		t.Fatal(err)
	}
	khLoads, idLoads := knownHostsCache.loads.Load(), signerCache.loads.Load()

	cfgs := make([]*ssh.ClientConfig, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			c := h.cfg
			c.User, c.IdentityFile, c.KnownHosts = "root", id, kh
			cfgs[i], errs[i] = clientConfig(c, h.addr())
		})
	}
	wg.Wait()

	if n := knownHostsCache.loads.Load() - khLoads; n != 1 {
		t.Errorf("known_hosts parsed %d times for %d dials, want 1", n, len(hosts))
	}
	if n := signerCache.loads.Load() - idLoads; n != 1 {
		t.Errorf("identity file parsed %d times for %d dials, want 1", n, len(hosts))
	}
	other := newHostKey(t)
	for i, h := range hosts {
		if errs[i] != nil {
			t.Fatalf("%s: %v", h.addr(), errs[i])
		}
		c := cfgs[i]
		if want := fresh.HostKeyAlgorithms(h.addr()); !reflect.DeepEqual(c.HostKeyAlgorithms, want) || len(want) == 0 {
			t.Errorf("%s: HostKeyAlgorithms = %v, want %v", h.addr(), c.HostKeyAlgorithms, want)
		}
		if err := c.HostKeyCallback(h.addr(), remote, h.key); err != nil {
			t.Errorf("%s: known key refused: %v", h.addr(), err)
		}
		err := c.HostKeyCallback(h.addr(), remote, other)
		if e := classifyHandshake(err, h.cfg); !errors.Is(e, ErrHostKeyMismatch) || !strings.Contains(e.Error(), "pinery hosts trust --replace") {
			t.Errorf("%s: changed key: %v", h.addr(), e)
		}
		if len(c.Auth) != 1 {
			t.Errorf("%s: %d auth methods, want 1", h.addr(), len(c.Auth))
		}
	}
	unknown := SSHConfig{Address: "10.9.9.9", Port: 22, KnownHosts: kh}
	err = cfgs[0].HostKeyCallback("10.9.9.9:22", remote, other)
	if e := classifyHandshake(err, unknown); !errors.Is(e, ErrHostKeyUnknown) || !strings.Contains(e.Error(), "ssh-keyscan") {
		t.Errorf("unknown host: %v", e)
	}
}

// A long-lived process sees an edited known_hosts; an unchanged one is not
// re-read.
func TestKnownHostsReloadedWhenChanged(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	kh, hosts := writeKnownHosts(t, 10, true)
	cfg := SSHConfig{User: "root", IdentityFile: writeIdentity(t), KnownHosts: kh, Address: "10.8.0.1", Port: 22}
	key := newHostKey(t)
	loads := knownHostsCache.loads.Load()

	c, err := clientConfig(cfg, "10.8.0.1:22")
	if err != nil {
		t.Fatal(err)
	}
	if !knownhosts.IsHostUnknown(c.HostKeyCallback("10.8.0.1:22", remote, key)) {
		t.Fatal("host known before it was added")
	}
	if _, err := clientConfig(cfg, hosts[0].addr()); err != nil {
		t.Fatal(err)
	}

	f, err := os.OpenFile(kh, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, xknownhosts.Line([]string{"10.8.0.1"}, key))
	f.Close()
	// Coarse-mtime file systems: the size alone must also count.
	if err := os.Chtimes(kh, time.Time{}, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, err = clientConfig(cfg, "10.8.0.1:22")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.HostKeyCallback("10.8.0.1:22", remote, key); err != nil {
		t.Errorf("added host refused: %v", err)
	}
	if !reflect.DeepEqual(c.HostKeyAlgorithms, []string{ssh.KeyAlgoED25519}) {
		t.Errorf("HostKeyAlgorithms = %v", c.HostKeyAlgorithms)
	}
	if n := knownHostsCache.loads.Load() - loads; n != 2 {
		t.Errorf("known_hosts parsed %d times, want 2 (before and after the edit)", n)
	}
}

// Configuration errors keep their classes, and are not cached: the next
// dial after the file is fixed succeeds.
func TestClientConfigErrors(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	id := writeIdentity(t)
	kh := filepath.Join(dir, "known_hosts")
	cfg := SSHConfig{User: "root", IdentityFile: id, KnownHosts: kh}

	if _, err := clientConfig(cfg, "10.0.0.1:22"); !errors.Is(err, ErrHostKeyUnknown) || !strings.Contains(err.Error(), "reading known_hosts") {
		t.Errorf("missing known_hosts: %v", err)
	}
	if err := os.WriteFile(kh, []byte("10.0.0.1 ssh-ed25519 not-base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := clientConfig(cfg, "10.0.0.1:22"); !errors.Is(err, ErrHostKeyUnknown) {
		t.Errorf("malformed known_hosts: %v", err)
	}
	if err := os.WriteFile(kh, []byte(xknownhosts.Line([]string{"10.0.0.1"}, newHostKey(t))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := clientConfig(cfg, "10.0.0.1:22"); err != nil {
		t.Errorf("after fixing known_hosts: %v", err)
	}

	noKH := cfg
	noKH.KnownHosts = ""
	if _, err := clientConfig(noKH, "10.0.0.1:22"); !errors.Is(err, ErrHostKeyUnknown) {
		t.Errorf("no known_hosts: %v", err)
	}
	noID := cfg
	noID.IdentityFile = filepath.Join(dir, "id_missing")
	if _, err := clientConfig(noID, "10.0.0.1:22"); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "id_missing") {
		t.Errorf("missing identity file: %v", err)
	}
	noID.IdentityFile = ""
	if _, err := clientConfig(noID, "10.0.0.1:22"); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "SSH_AUTH_SOCK") {
		t.Errorf("no identity and no agent: %v", err)
	}
}

// serveAgent runs an in-memory ssh-agent on a unix socket and returns its
// path and a function that closes every connection accepted so far.
func serveAgent(t *testing.T) (string, func() int) {
	keyring := agent.NewKeyring()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "agent") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go agent.ServeAgent(keyring, c)
		}
	}()
	return sock, func() int {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		return len(conns)
	}
}

// All dials share one agent connection, and a lost connection (agent
// restarted) is replaced.
func TestAgentConnectionShared(t *testing.T) {
	sock, closeConns := serveAgent(t)
	t.Setenv("SSH_AUTH_SOCK", sock)
	kh, hosts := writeKnownHosts(t, 3, false)
	dials := agents.dials.Load()

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c, err := clientConfig(SSHConfig{User: "root", KnownHosts: kh}, hosts[0].addr())
			if err != nil {
				t.Error(err)
				return
			}
			if len(c.Auth) != 1 {
				t.Errorf("%d auth methods, want 1 (the agent)", len(c.Auth))
			}
			s, err := agentSigners(sock)
			if err != nil || len(s) != 1 {
				t.Errorf("agent signers: %v, %v", s, err)
				return
			}
			if _, err := s[0].Sign(nil, []byte("data")); err != nil {
				t.Errorf("agent sign: %v", err)
			}
		})
	}
	wg.Wait()
	if n := agents.dials.Load() - dials; n != 1 {
		t.Errorf("%d agent connections for 50 dials, want 1", n)
	}
	if n := closeConns(); n != 1 {
		t.Errorf("agent accepted %d connections, want 1", n)
	}
	if s, err := agentSigners(sock); err != nil || len(s) != 1 {
		t.Errorf("after the agent connection was lost: %v, %v", s, err)
	}
	if n := agents.dials.Load() - dials; n != 2 {
		t.Errorf("%d agent connections, want 2", n)
	}
	a, err := sharedAgent(sock)
	if err != nil {
		t.Fatal(err)
	}
	dropAgent(sock, a)
}

// knownHostsFiles are the benchmarks' 500-host files: as ssh-keyscan writes
// them, and half hashed (each hashed line costs an HMAC per lookup).
var knownHostsFiles = []struct {
	name   string
	hashed bool
}{{"plain", false}, {"hashed", true}}

// What each dial paid before known_hosts was shared.
func BenchmarkKnownHostsParse500(b *testing.B) {
	for _, f := range knownHostsFiles {
		b.Run(f.name, func(b *testing.B) {
			kh, _ := writeKnownHosts(b, 500, f.hashed)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := knownhosts.NewDB(kh); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The host key lookups a dial does on the shared DB: the algorithms to
// offer, then the handshake's check.
func BenchmarkHostKeyLookup500(b *testing.B) {
	for _, f := range knownHostsFiles {
		b.Run(f.name, func(b *testing.B) {
			kh, hosts := writeKnownHosts(b, 500, f.hashed)
			db, err := knownHostsCache.get(kh)
			if err != nil {
				b.Fatal(err)
			}
			h := hosts[len(hosts)-2] // hashed in the hashed file
			addr := h.addr()
			b.ReportAllocs()
			for b.Loop() {
				if len(db.db.HostKeyAlgorithms(addr)) == 0 {
					b.Fatal("no algorithms")
				}
				if err := db.callback(addr, remote, h.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A dial's whole configuration step, files already parsed, from parallel
// goroutines.
func BenchmarkClientConfig500(b *testing.B) {
	b.Setenv("SSH_AUTH_SOCK", "")
	for _, f := range knownHostsFiles {
		b.Run(f.name, func(b *testing.B) {
			kh, hosts := writeKnownHosts(b, 500, f.hashed)
			cfg := SSHConfig{User: "root", IdentityFile: writeIdentity(b), KnownHosts: kh}
			addr := hosts[len(hosts)-2].addr()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := clientConfig(cfg, addr); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
