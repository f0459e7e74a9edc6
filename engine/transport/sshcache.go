package transport

import (
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/melbahja/goph"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// The files every dial reads are parsed once per process and shared by all
// connections. x/crypto/ssh keeps each connection's ClientConfig (host key
// callback and auth methods included) until the connection closes, so a parse
// per dial cost O(hosts) CPU and memory per host: O(hosts²) per run.

// fileStamp tells whether a file changed since it was parsed.
type fileStamp struct {
	size, mtime int64
}

// fileCache holds one parsed value per file path, re-read when the file's
// size or mtime changes (a long-lived process must see an edited
// known_hosts). Concurrent callers for one file wait for a single parse.
// Errors are not kept, so a transient failure (EMFILE during a dial storm)
// does not fail every later dial.
type fileCache[T any] struct {
	load  func(path string) (T, error)
	mu    sync.Mutex
	m     map[string]*fileEntry[T]
	loads atomic.Int64 // parses started, for tests
}

type fileEntry[T any] struct {
	stamp fileStamp
	get   func() (T, error)
}

func (c *fileCache[T]) get(path string) (T, error) {
	var st fileStamp
	if fi, err := os.Stat(path); err == nil {
		st = fileStamp{fi.Size(), fi.ModTime().UnixNano()}
	}
	c.mu.Lock()
	e := c.m[path]
	if e == nil || e.stamp != st {
		e = &fileEntry[T]{stamp: st}
		e.get = sync.OnceValues(func() (T, error) {
			c.loads.Add(1)
			v, err := c.load(path)
			if err != nil {
				c.mu.Lock()
				if c.m[path] == e {
					delete(c.m, path)
				}
				c.mu.Unlock()
			}
			return v, err
		})
		if c.m == nil {
			c.m = make(map[string]*fileEntry[T])
		}
		c.m[path] = e
	}
	c.mu.Unlock()
	return e.get()
}

// hostKeyDB is a parsed known_hosts file. Both fields are read-only after
// parsing, so one value serves any number of concurrent handshakes.
type hostKeyDB struct {
	db       *knownhosts.HostKeyDB
	callback ssh.HostKeyCallback
}

var knownHostsCache = fileCache[*hostKeyDB]{load: func(path string) (*hostKeyDB, error) {
	db, err := knownhosts.NewDB(path)
	if err != nil {
		return nil, err
	}
	return &hostKeyDB{db: db, callback: db.HostKeyCallback()}, nil
}}

// Inventories usually give every host the same identity file. Signers are
// stateless, so one serves all connections.
var signerCache = fileCache[ssh.Signer]{load: func(path string) (ssh.Signer, error) {
	return goph.GetSigner(path, "")
}}

// One ssh-agent connection per socket, shared by all dials: x/crypto's agent
// client takes concurrent requests, and goph.UseAgent's connection per dial
// was never closed (an fd and a reader goroutine per host, for the life of
// the process).
var agents struct {
	mu    sync.Mutex
	m     map[string]*agentConn
	dials atomic.Int64 // for tests
}

type agentConn struct {
	conn   net.Conn
	client agent.ExtendedAgent
}

func sharedAgent(sock string) (*agentConn, error) {
	agents.mu.Lock()
	defer agents.mu.Unlock()
	if a := agents.m[sock]; a != nil {
		return a, nil
	}
	agents.dials.Add(1)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	a := &agentConn{conn: conn, client: agent.NewClient(conn)}
	if agents.m == nil {
		agents.m = make(map[string]*agentConn)
	}
	agents.m[sock] = a
	return a, nil
}

func dropAgent(sock string, a *agentConn) {
	agents.mu.Lock()
	if agents.m[sock] == a {
		delete(agents.m, sock)
	}
	agents.mu.Unlock()
	a.conn.Close()
}

// agentSigners lists the agent's keys. A failure on a kept connection
// (agent restarted since) is retried once on a new one.
func agentSigners(sock string) ([]ssh.Signer, error) {
	for retry := false; ; retry = true {
		a, err := sharedAgent(sock)
		if err != nil {
			return nil, err
		}
		s, err := a.client.Signers()
		if err == nil {
			return s, nil
		}
		dropAgent(sock, a)
		if retry {
			return nil, err
		}
	}
}
