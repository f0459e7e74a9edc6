package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// store is the history and the lock table over database/sql, shared by
// both backends: the queries are plain SQL that SQLite and PostgreSQL
// both accept ($N parameters, ON CONFLICT, RETURNING); only the schema's
// types and the locking differ.
type store struct {
	db *sql.DB
	// begin opens a transaction that serializes with other writers.
	begin func(ctx context.Context) (*sql.Tx, error)
}

// migrate brings the schema up to date, one versioned step at a time, in
// one transaction that serialize (if not "") makes exclusive: two first
// runs may race.
func (s *store) migrate(ctx context.Context, steps []string, serialize string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if serialize != "" {
		if _, err := tx.ExecContext(ctx, serialize); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS pinery_schema (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM pinery_schema`).Scan(&have); err != nil {
		return err
	}
	if have > len(steps) {
		return fmt.Errorf("the state was written by a newer pinery (schema %d; this one knows %d): upgrade pinery", have, len(steps))
	}
	for v := have + 1; v <= len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v-1]); err != nil {
			return fmt.Errorf("schema step %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pinery_schema (version) VALUES ($1)`, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// lockRow is a site's row in pinery_site_locks.
type lockRow struct {
	gen    int64
	token  string // "": free
	holder Holder
}

func readLock(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, site string) (lockRow, error) {
	var r lockRow
	var token sql.NullString
	var since, expires sql.NullTime
	err := q.QueryRowContext(ctx, `SELECT gen, token, user_name, machine, pid, command, since, expires
		FROM pinery_site_locks WHERE site = $1`, site).Scan(&r.gen, &token, &r.holder.User, &r.holder.Machine,
		&r.holder.PID, &r.holder.Command, &since, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return lockRow{}, nil
	}
	r.token, r.holder.Since, r.holder.Expires = token.String, since.Time, expires.Time
	return r, err
}

// writeLock records a new holder and bumps the generation.
func writeLock(ctx context.Context, tx *sql.Tx, site, token string, h Holder) (int64, error) {
	var expires sql.NullTime
	if !h.Expires.IsZero() {
		expires = sql.NullTime{Time: h.Expires.UTC(), Valid: true}
	}
	var gen int64
	err := tx.QueryRowContext(ctx, `INSERT INTO pinery_site_locks (site, gen, token, user_name, machine, pid, command, since, expires)
		VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (site) DO UPDATE SET gen = pinery_site_locks.gen + 1, token = excluded.token,
			user_name = excluded.user_name, machine = excluded.machine, pid = excluded.pid,
			command = excluded.command, since = excluded.since, expires = excluded.expires
		RETURNING gen`, site, token, h.User, h.Machine, h.PID, h.Command, h.Since.UTC(), expires).Scan(&gen)
	return gen, err
}

// clearLock marks the site's lock free (only if token holds it, unless
// token is "").
func clearLock(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, site, token string) error {
	_, err := db.ExecContext(ctx, `UPDATE pinery_site_locks SET token = NULL WHERE site = $1 AND ($2 = '' OR token = $2)`, site, token)
	return err
}

func (s *store) RecordRun(ctx context.Context, r Run) (int64, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO pinery_runs (site, user_name, machine, version, git_commit, dirty, command, shard, label, lock_gen, started, outcome)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '') RETURNING id`,
		r.Site, r.User, r.Machine, r.Version, r.Commit, r.Dirty, r.Command, r.Shard, r.Label, r.LockGen, r.Started.UTC()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording the run: %w", err)
	}
	for i, h := range r.Hosts {
		if err := putHost(ctx, tx, id, i, h); err != nil {
			return 0, fmt.Errorf("recording the run: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("recording the run: %w", err)
	}
	return id, nil
}

// putHost records a host of a run; pos keeps the hosts in the order given
// (the inventory's).
func putHost(ctx context.Context, tx *sql.Tx, id int64, pos int, h Host) error {
	changes := h.Changes
	if changes == nil {
		changes = []Resource{}
	}
	js, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO pinery_run_hosts (run_id, host, pos, outcome, changed, failed, skipped, error, changes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (run_id, host) DO UPDATE SET pos = excluded.pos, outcome = excluded.outcome, changed = excluded.changed,
			failed = excluded.failed, skipped = excluded.skipped, error = excluded.error, changes = excluded.changes`,
		id, h.Host, pos, string(h.Outcome), h.Changed, h.Failed, h.Skipped, h.Error, string(js))
	return err
}

func (s *store) FinishRun(ctx context.Context, id int64, outcome Outcome, hosts []Host) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE pinery_runs SET ended = $1, outcome = $2 WHERE id = $3`, time.Now().UTC(), string(outcome), id)
	if err != nil {
		return fmt.Errorf("recording the end of run %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("recording the end of run %d: %w", id, ErrNoRun)
	}
	for i, h := range hosts {
		if err := putHost(ctx, tx, id, i, h); err != nil {
			return fmt.Errorf("recording the end of run %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording the end of run %d: %w", id, err)
	}
	return nil
}

const runColumns = `id, site, user_name, machine, version, git_commit, dirty, command, shard, label, lock_gen, started, ended, outcome`

func scanRun(rows interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var ended sql.NullTime
	var outcome string
	err := rows.Scan(&r.ID, &r.Site, &r.User, &r.Machine, &r.Version, &r.Commit, &r.Dirty, &r.Command, &r.Shard, &r.Label, &r.LockGen, &r.Started, &ended, &outcome)
	r.Ended, r.Outcome = ended.Time, Outcome(outcome)
	return r, err
}

func (s *store) Runs(ctx context.Context, site string, limit int) ([]Run, error) {
	return s.listRuns(ctx, `site = $1 ORDER BY id DESC LIMIT $2`, site, limit)
}

func (s *store) LabelRuns(ctx context.Context, site, label string) ([]Run, error) {
	return s.listRuns(ctx, `site = $1 AND label = $2 ORDER BY id`, site, label)
}

// listRuns lists the runs that filter (a WHERE clause with its order and
// limit) selects, with their hosts' counts.
func (s *store) listRuns(ctx context.Context, filter string, args ...any) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM pinery_runs WHERE `+filter, args...)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	defer rows.Close()
	var runs []Run
	index := map[int64]int{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("listing runs: %w", err)
		}
		index[r.ID] = len(runs)
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	if len(runs) == 0 {
		return runs, nil
	}
	hrows, err := s.db.QueryContext(ctx, `SELECT run_id, host, outcome, changed, failed, skipped, error FROM pinery_run_hosts
		WHERE run_id IN (SELECT id FROM pinery_runs WHERE `+filter+`) ORDER BY run_id, pos`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	defer hrows.Close()
	for hrows.Next() {
		var id int64
		var h Host
		var outcome string
		if err := hrows.Scan(&id, &h.Host, &outcome, &h.Changed, &h.Failed, &h.Skipped, &h.Error); err != nil {
			return nil, fmt.Errorf("listing runs: %w", err)
		}
		h.Outcome = Outcome(outcome)
		if i, ok := index[id]; ok {
			runs[i].Hosts = append(runs[i].Hosts, h)
		}
	}
	if err := hrows.Err(); err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	return runs, nil
}

func (s *store) Run(ctx context.Context, id int64) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM pinery_runs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %d: %w", id, ErrNoRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("reading run %d: %w", id, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT host, outcome, changed, failed, skipped, error, changes FROM pinery_run_hosts
		WHERE run_id = $1 ORDER BY pos`, id)
	if err != nil {
		return Run{}, fmt.Errorf("reading run %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var h Host
		var outcome, changes string
		if err := rows.Scan(&h.Host, &outcome, &h.Changed, &h.Failed, &h.Skipped, &h.Error, &changes); err != nil {
			return Run{}, fmt.Errorf("reading run %d: %w", id, err)
		}
		h.Outcome = Outcome(outcome)
		if err := json.Unmarshal([]byte(changes), &h.Changes); err != nil {
			return Run{}, fmt.Errorf("reading run %d: host %s: %w", id, h.Host, err)
		}
		r.Hosts = append(r.Hosts, h)
	}
	if err := rows.Err(); err != nil {
		return Run{}, fmt.Errorf("reading run %d: %w", id, err)
	}
	return r, nil
}

func (s *store) Close() error { return s.db.Close() }
