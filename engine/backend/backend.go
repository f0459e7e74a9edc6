// Package backend keeps what a site remembers between applies: the site
// lock, which lets one apply at a time change the site's hosts, and the
// run history (who applied what, from which commit, and how it ended).
//
// Two backends implement the same contract: a SQLite file in the site's
// .pinery/ folder (the default, for one person or one CI runner) and a
// PostgreSQL database (for teams whose laptops and CI runners share the
// lock and the history). Backend tests run the same cases against both.
package backend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"strings"
	"time"
)

// Backend is where a site's lock and run history live.
type Backend interface {
	// LockState reports, without taking it, how many times a lock of the
	// site was taken (its generation, counting every scope) and who holds
	// a lock that excludes scope shard ("" the whole site, else "I/N"; see
	// excludes) now (nil: it could be taken).
	LockState(ctx context.Context, site, shard string) (gen int64, holder *Holder, err error)
	// Lock takes the site lock for h.Shard ("" the whole site, else one
	// shard "I/N"), or fails at once with a *LockedError naming a holder
	// whose lock excludes it. The lock is the caller's until Release.
	Lock(ctx context.Context, site string, h Holder) (*Lock, error)
	// BreakLock frees the lock of one shard of the site, or with shard ""
	// every lock of the site (whole and shards), whoever holds them, and
	// says whose they were (none: they were free).
	BreakLock(ctx context.Context, site, shard string) ([]Holder, error)

	// RecordRun records the start of a run (ID, Ended and Outcome are
	// ignored; Hosts are the hosts it is about to apply) and returns its ID.
	RecordRun(ctx context.Context, r Run) (int64, error)
	// FinishRun records how a run ended, with each host's detail.
	FinishRun(ctx context.Context, id int64, outcome Outcome, hosts []Host) error
	// Runs lists the site's most recent runs, newest first, with their
	// hosts' counts (not their resources).
	Runs(ctx context.Context, site string, limit int) ([]Run, error)
	// LabelRuns lists the site's runs labelled label (the shards of one CI
	// run), oldest first, with their hosts' counts.
	LabelRuns(ctx context.Context, site, label string) ([]Run, error)
	// Run returns one run in full, or an error wrapping ErrNoRun.
	Run(ctx context.Context, id int64) (Run, error)

	Close() error
}

// TTL is how long a site lock of SQLite outlives its holder: a run renews
// it while alive, so only a run that died (killed, crashed) leaves a lock,
// and it blocks others for this long unless `pinery unlock --site` breaks
// it. PostgreSQL's advisory lock ends with its holder's connection.
const TTL = 2 * time.Hour

var (
	// ErrLocked is the class of a *LockedError.
	ErrLocked = errors.New("site locked by another run")
	// ErrNoRun is the class of the error for an unknown run ID.
	ErrNoRun = errors.New("no such run")
)

// LockedError names the run that holds a site's lock.
type LockedError struct {
	Holder *Holder // nil: the holder is not known (it is taking the lock)
}

func (e *LockedError) Error() string {
	if e.Holder == nil {
		return ErrLocked.Error() + " (holder unknown)"
	}
	return ErrLocked.Error() + ": " + e.Holder.String()
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Holder describes the run holding a site lock.
type Holder struct {
	Shard   string // the shard "I/N" it holds; "": the whole site
	User    string
	Machine string
	PID     int
	Command string    // the command line, without sensitive values
	Since   time.Time // when it took the lock
	Expires time.Time // zero: held while its connection lives (PostgreSQL)
}

// CurrentHolder describes this process as a holder.
func CurrentHolder(command string) Holder {
	return Holder{User: currentUser(), Machine: machine(), PID: os.Getpid(), Command: command}
}

// String is "alice@laptop pid 4242 since 2026-03-01T10:00:00Z (expires
// 2026-03-01T12:00:00Z), running: pinery apply site", with " for shard
// 1/4" before the command when it holds a shard.
func (h Holder) String() string {
	if h.User == "" {
		return "an unknown run"
	}
	s := fmt.Sprintf("%s@%s pid %d since %s", h.User, h.Machine, h.PID, h.Since.UTC().Format(time.RFC3339))
	if !h.Expires.IsZero() {
		s += " (expires " + h.Expires.UTC().Format(time.RFC3339) + ")"
	}
	if h.Shard != "" {
		s += " for shard " + h.Shard
	}
	if h.Command != "" {
		s += ", running: " + h.Command
	}
	return s
}

// Lock is a held site lock. Keep it until Release: with PostgreSQL it owns
// the connection that holds the lock.
type Lock struct {
	Gen     int64 // the lock's generation: one more than before it was taken
	token   string
	release func(context.Context) error
	abandon func() // tests: the holder dies without releasing
}

// Release frees the lock. It runs even when ctx was cancelled (an
// interrupted run must not leave its lock).
func (l *Lock) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := l.release(ctx); err != nil {
		return fmt.Errorf("releasing the site lock: %w", err)
	}
	return nil
}

// WaitLock takes the site lock, retrying for up to wait while another run
// holds it; with wait 0 it tries once. onWait is told once whom it waits for.
func WaitLock(ctx context.Context, b Backend, site string, h Holder, wait time.Duration, onWait func(*Holder)) (*Lock, error) {
	deadline := time.Now().Add(wait)
	delay := 200 * time.Millisecond
	told := false
	for {
		l, err := b.Lock(ctx, site, h)
		var le *LockedError
		if !errors.As(err, &le) || time.Now().Add(delay).After(deadline) {
			return l, err
		}
		if !told && onWait != nil {
			onWait(le.Holder)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the site lock: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// Outcome is how a run, or one host of it, ended.
type Outcome string

const (
	Converged   Outcome = "converged"   // every resource applied
	Failed      Outcome = "failed"      // resources failed (the rest applied)
	NotApplied  Outcome = "not-applied" // unreachable, not planned, locked or refused (run: some hosts)
	Halted      Outcome = "halted"      // run: a rollout stopped before some hosts
	Untouched   Outcome = "untouched"   // host: a halted rollout never reached it
	Interrupted Outcome = "interrupted" // SIGINT or SIGTERM
	Unfinished  Outcome = ""            // running, or its process died
)

// Run is one apply of a site.
type Run struct {
	ID      int64
	Site    string // the site's ID (see SiteOf)
	User    string
	Machine string
	Version string // pinery's
	Commit  string // the site's git commit ("": not in git)
	Dirty   bool   // the work tree had uncommitted changes
	Command string // without sensitive values
	Shard   string // "I/N" of apply --shard; "": the whole site
	Label   string // groups the runs of one CI run (its shards); "": none
	LockGen int64  // the generation of the site lock it held
	Started time.Time
	Ended   time.Time // zero: unfinished
	Outcome Outcome
	Hosts   []Host
}

// Host is one host's part of a run.
type Host struct {
	Host    string
	Outcome Outcome
	Changed int
	Failed  int
	Skipped int
	Error   string     // why the host was not applied
	Changes []Resource // resources that changed, failed or were skipped
}

// Resource is one resource's event in a run: the text apply printed.
type Resource struct {
	Address string `json:"address"`
	Action  string `json:"action"`
	Status  string `json:"status"` // changed, failed, skipped
	Note    string `json:"note,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Open opens the backend that spec names: "" for the SQLite file
// SITEDIR/.pinery/state.db, or a postgres:// (postgresql://) URL. Unless
// create, a missing SQLite file is ErrNoState rather than created.
func Open(ctx context.Context, spec, siteDir string, create bool) (Backend, error) {
	switch {
	case spec == "":
		return OpenSQLite(ctx, SQLitePath(siteDir), create, TTL)
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return OpenPostgres(ctx, spec)
	default:
		return nil, fmt.Errorf("backend %q: not a postgres:// URL (leave it empty for the site's SQLite file)", Redact(spec))
	}
}

// ErrNoState is returned by Open for a site that has no state file yet.
var ErrNoState = errors.New("no state recorded yet")

// Redact hides a URL's user and password (and a password given as a
// query parameter), for messages.
func Redact(spec string) string {
	u, err := url.Parse(spec)
	if err != nil {
		return "(an unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// redactErr removes a URL's secrets from an error's text, should a library
// have quoted them.
func redactErr(err error, spec string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var secrets []string
	if u, perr := url.Parse(spec); perr == nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw)
		}
		secrets = append(secrets, u.Query()["password"]...)
		secrets = append(secrets, u.Query()["sslpassword"]...)
	} else {
		secrets = append(secrets, spec) // cannot tell its parts apart
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

func machine() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown"
}
