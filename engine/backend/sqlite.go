package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"
)

// SQLitePath is where a site keeps its state by default.
func SQLitePath(siteDir string) string { return filepath.Join(siteDir, ".pinery", "state.db") }

// sqliteSchema is the SQLite schema, one step per version.
var sqliteSchema = []string{
	`CREATE TABLE pinery_site_locks (
		site      TEXT PRIMARY KEY,
		gen       INTEGER NOT NULL,
		token     TEXT,
		user_name TEXT NOT NULL,
		machine   TEXT NOT NULL,
		pid       INTEGER NOT NULL,
		command   TEXT NOT NULL,
		since     TIMESTAMP,
		expires   TIMESTAMP
	);
	CREATE TABLE pinery_runs (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		site       TEXT NOT NULL,
		user_name  TEXT NOT NULL,
		machine    TEXT NOT NULL,
		version    TEXT NOT NULL,
		git_commit TEXT NOT NULL,
		dirty      BOOLEAN NOT NULL,
		command    TEXT NOT NULL,
		lock_gen   INTEGER NOT NULL,
		started    TIMESTAMP NOT NULL,
		ended      TIMESTAMP,
		outcome    TEXT NOT NULL
	);
	CREATE INDEX pinery_runs_site ON pinery_runs (site, id);
	CREATE TABLE pinery_run_hosts (
		run_id  INTEGER NOT NULL REFERENCES pinery_runs (id) ON DELETE CASCADE,
		host    TEXT NOT NULL,
		pos     INTEGER NOT NULL,
		outcome TEXT NOT NULL,
		changed INTEGER NOT NULL,
		failed  INTEGER NOT NULL,
		skipped INTEGER NOT NULL,
		error   TEXT NOT NULL,
		changes TEXT NOT NULL,
		PRIMARY KEY (run_id, host)
	);`,
	// Sharded applies: a lock per shard, and each run's shard and label.
	`CREATE TABLE pinery_shard_locks (
		site      TEXT NOT NULL,
		shard     TEXT NOT NULL,
		token     TEXT,
		user_name TEXT NOT NULL,
		machine   TEXT NOT NULL,
		pid       INTEGER NOT NULL,
		command   TEXT NOT NULL,
		since     TIMESTAMP,
		expires   TIMESTAMP,
		PRIMARY KEY (site, shard)
	);
	ALTER TABLE pinery_runs ADD COLUMN shard TEXT NOT NULL DEFAULT '';
	ALTER TABLE pinery_runs ADD COLUMN label TEXT NOT NULL DEFAULT '';
	CREATE INDEX pinery_runs_label ON pinery_runs (site, label, id);`,
	reportsSchema, // pull-mode reports (reports.go)
}

// sqliteBackend keeps the state in one SQLite file (WAL, so that history
// can be read while a run writes). Its site lock is a row taken in a
// BEGIN IMMEDIATE transaction; the holder renews the row's expiry while it
// lives, so a lock outlives a dead holder by ttl at most.
type sqliteBackend struct {
	store
	ttl time.Duration
}

// OpenSQLite opens (or, if create, creates with mode 0600) the SQLite
// state file at path. Without create, a missing file is ErrNoState.
func OpenSQLite(ctx context.Context, path string, create bool, ttl time.Duration) (Backend, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if !create {
			return nil, ErrNoState
		}
		const what = "creating the site's state file (its lock and run history; or give a --backend)"
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		f.Close()
	}
	// Writers queue for up to 10 s rather than fail at once; every
	// transaction starts IMMEDIATE (takes the write lock first), so that
	// two runs taking the site lock cannot both read it free.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening the state file %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one process, one connection: no self-contention
	b := &sqliteBackend{store: store{db: db}, ttl: ttl}
	b.begin = func(ctx context.Context) (*sql.Tx, error) { return db.BeginTx(ctx, nil) }
	if err := b.migrate(ctx, sqliteSchema, ""); err != nil {
		db.Close()
		return nil, fmt.Errorf("the state file %s: %w", path, err)
	}
	return b, nil
}

// held reports whether a lock row names a live holder at now.
func (r lockRow) held(now time.Time) bool {
	return r.token != "" && r.holder.Expires.After(now)
}

// holders reads the site's lock rows and says which of them are live: the
// whole-site holder (nil: none) and the shards' holders.
func (b *sqliteBackend) holders(ctx context.Context, q querier, site string, now time.Time) (lockRow, *Holder, []shardRow, error) {
	r, err := readLock(ctx, q, site)
	if err != nil {
		return r, nil, nil, err
	}
	var whole *Holder
	if r.held(now) {
		whole = &r.holder
	}
	rows, err := readShardLocks(ctx, q, site)
	var live []shardRow
	for _, s := range rows {
		if s.holder.Expires.After(now) {
			live = append(live, s)
		}
	}
	return r, whole, live, err
}

func (b *sqliteBackend) LockState(ctx context.Context, site, shard string) (int64, *Holder, error) {
	r, whole, shards, err := b.holders(ctx, b.db, site, time.Now())
	if err != nil {
		return 0, nil, fmt.Errorf("reading the site lock: %w", err)
	}
	return r.gen, blocker(whole, holdersOf(shards), shard), nil
}

func (b *sqliteBackend) Lock(ctx context.Context, site string, h Holder) (*Lock, error) {
	token := newToken()
	now := time.Now().UTC()
	h.Since, h.Expires = now, now.Add(b.ttl)
	tx, err := b.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("taking the site lock: %w", err)
	}
	defer tx.Rollback()
	_, whole, shards, err := b.holders(ctx, tx, site, now)
	if err != nil {
		return nil, fmt.Errorf("taking the site lock: %w", err)
	}
	if other := blocker(whole, holdersOf(shards), h.Shard); other != nil {
		return nil, &LockedError{Holder: other}
	}
	var gen int64
	if h.Shard == "" {
		gen, err = writeLock(ctx, tx, site, token, h)
	} else {
		gen, err = writeShardLock(ctx, tx, site, token, h)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return nil, fmt.Errorf("taking the site lock: %w", err)
	}
	l := b.renew(site, h.Shard, token)
	l.Gen = gen
	return l, nil
}

// renew keeps the lock alive while its holder is: it pushes the expiry
// forward every quarter of the ttl, until released or abandoned.
func (b *sqliteBackend) renew(site, shard, token string) *Lock {
	stop := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(b.ttl / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				// A failed renewal is retried at the next tick; the lock
				// stays valid for the rest of the ttl meanwhile.
				table := "pinery_site_locks"
				if shard != "" {
					table = "pinery_shard_locks"
				}
				_, _ = b.db.Exec(`UPDATE `+table+` SET expires = $1 WHERE site = $2 AND token = $3`,
					time.Now().UTC().Add(b.ttl), site, token)
			}
		}
	}()
	halt := func() { once.Do(func() { close(stop); wg.Wait() }) }
	return &Lock{
		release: func(ctx context.Context) error {
			halt()
			if shard != "" {
				return clearShardLock(ctx, b.db, site, shard, token)
			}
			return clearLock(ctx, b.db, site, token)
		},
		abandon: halt,
	}
}

func (b *sqliteBackend) BreakLock(ctx context.Context, site, shard string) ([]Holder, error) {
	tx, err := b.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("breaking the site lock: %w", err)
	}
	defer tx.Rollback()
	_, whole, shards, err := b.holders(ctx, tx, site, time.Now())
	if err == nil && shard == "" {
		err = clearLock(ctx, tx, site, "")
	}
	if err == nil {
		err = clearShardLock(ctx, tx, site, shard, "")
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return nil, fmt.Errorf("breaking the site lock: %w", err)
	}
	return broken(whole, shards, shard), nil
}
