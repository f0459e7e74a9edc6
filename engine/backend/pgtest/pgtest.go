// Package pgtest starts a throwaway PostgreSQL server for tests: Debian's
// postgresql package, a fresh cluster in a temporary directory, listening
// on 127.0.0.1 with a password, stopped when the test ends. Backend tests
// run against a real server, not a mock.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running test server.
type Server struct {
	admin  string // URL of the "postgres" database
	dbs    atomic.Int64
	stop   func() error
	stopMu sync.Once
}

// Password is the test role's password: tests check that it never appears
// in output.
const Password = "s3cret-pg-Pa55word"

// Option changes how Start or Launch set the server up.
type Option func(*config)

type config struct{ listen []string }

// Listen makes the server listen on addr too (e.g. the test fleet's
// bridge, 10.231.0.1, so that boards can report to it), accepting
// password logins from addr's /24.
func Listen(addr string) Option { return func(c *config) { c.listen = append(c.listen, addr) } }

// Start initdb's a fresh cluster and starts it until the test ends. It
// skips when PostgreSQL is not installed, unless PINERY_E2E=1 (make test),
// under which that is a failure.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if !Installed() {
		if os.Getenv("PINERY_E2E") == "1" {
			t.Fatal("PINERY_E2E=1 but PostgreSQL is not installed (apt-get install postgresql)")
		}
		t.Skip("PostgreSQL is not installed (apt-get install postgresql); make test runs these")
	}
	s, err := Launch(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Installed reports whether PostgreSQL's server programs are installed.
func Installed() bool { return postgresBin() != "" }

// Launch is Start for callers without a testing.TB (a testscript command):
// the caller stops the server.
func Launch(opts ...Option) (*Server, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	bin := postgresBin()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL is not installed (apt-get install postgresql)")
	}
	dir, err := os.MkdirTemp("", "pinery-pg-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	// PostgreSQL refuses to run as root: as root, run it as the postgres
	// user that the package creates.
	var prefix []string
	chown := func(string) error { return nil }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running as root needs the postgres user: %v", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		chown = func(p string) error { return os.Chown(p, uid, gid) }
		prefix = []string{"runuser", "-u", "postgres", "--"}
	}
	if err := chown(dir); err != nil {
		return fail(err)
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if err := chown(pw); err != nil {
		return fail(err)
	}
	run := func(name string, args ...string) error {
		full := append(append(slices.Clone(prefix), filepath.Join(bin, name)), args...)
		out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", "pinery", "--pwfile", pw,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"); err != nil {
		return fail(err)
	}
	listen := []string{"127.0.0.1"}
	for _, a := range cfg.listen {
		listen = append(listen, a)
		hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return fail(err)
		}
		_, err = fmt.Fprintf(hba, "host all all %s/24 scram-sha-256\n", a)
		if cerr := hba.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(err)
		}
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	if err := run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-c listen_addresses=%s -p %d -k %s -c fsync=off", strings.Join(listen, ","), port, dir), "start"); err != nil {
		return fail(err)
	}
	s := &Server{admin: fmt.Sprintf("postgres://pinery:%s@127.0.0.1:%d/postgres?sslmode=disable", Password, port)}
	s.stop = func() error {
		defer os.RemoveAll(dir)
		return run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
	}
	return s, nil
}

// Stop stops the server and removes its files (once; later calls do nothing).
func (s *Server) Stop() error {
	var err error
	s.stopMu.Do(func() {
		if err = s.stop(); err != nil {
			err = fmt.Errorf("stopping PostgreSQL: %w", err)
		}
	})
	return err
}

// NewDB creates an empty database and returns its URL (with the password).
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	url, err := s.CreateDB()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// CreateDB is NewDB for callers without a testing.TB.
func (s *Server) CreateDB() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return strings.Replace(s.admin, "/postgres?", "/"+name+"?", 1), nil
}

// On is url (of this server) with its host replaced by addr, one of the
// Listen addresses.
func On(url, addr string) string { return strings.Replace(url, "@127.0.0.1:", "@"+addr+":", 1) }

// postgresBin is the newest installed PostgreSQL's bin directory ("": none).
func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
