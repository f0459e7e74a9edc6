package backend

import (
	"context"
	"database/sql"
	"strings"
)

// The site lock has two scopes: the whole site (an unsharded apply) and
// one shard "I/N" of it (apply --shard I/N, one job of a CI matrix). The
// rule, in excludes: the whole-site lock excludes every other lock of the
// site; a shard lock excludes the same shard and the shards of another N
// (another partition of the hosts, whose slices overlap). So the N jobs of
// one matrix run together, and nothing else runs beside them.

// excludes reports whether locks of scopes a and b ("" the whole site,
// else "I/N") cannot be held at the same time.
func excludes(a, b string) bool {
	return a == "" || b == "" || a == b || shardCount(a) != shardCount(b)
}

// shardCount is the N of "I/N".
func shardCount(s string) string {
	_, n, _ := strings.Cut(s, "/")
	return n
}

// blocker is the first live holder whose lock excludes one of scope want
// (nil: want can be taken). whole is the live whole-site holder (nil:
// none); shards are the live shard holders.
func blocker(whole *Holder, shards []Holder, want string) *Holder {
	if whole != nil {
		return whole
	}
	for i := range shards {
		if excludes(shards[i].Shard, want) {
			return &shards[i]
		}
	}
	return nil
}

// shardRow is a shard's row in pinery_shard_locks; its holder's Shard is set.
type shardRow struct {
	token  string // "": free
	holder Holder
}

func readShardLocks(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, site string) ([]shardRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT shard, token, user_name, machine, pid, command, since, expires
		FROM pinery_shard_locks WHERE site = $1 AND token IS NOT NULL ORDER BY shard`, site)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shardRow
	for rows.Next() {
		var r shardRow
		var since, expires sql.NullTime
		if err := rows.Scan(&r.holder.Shard, &r.token, &r.holder.User, &r.holder.Machine, &r.holder.PID, &r.holder.Command, &since, &expires); err != nil {
			return nil, err
		}
		r.holder.Since, r.holder.Expires = since.Time, expires.Time
		out = append(out, r)
	}
	return out, rows.Err()
}

// writeShardLock records a shard's new holder and bumps the site lock's
// generation, which counts the locks of every scope.
func writeShardLock(ctx context.Context, tx *sql.Tx, site, token string, h Holder) (int64, error) {
	var gen int64
	err := tx.QueryRowContext(ctx, `INSERT INTO pinery_site_locks (site, gen, token, user_name, machine, pid, command)
		VALUES ($1, 1, NULL, '', '', 0, '')
		ON CONFLICT (site) DO UPDATE SET gen = pinery_site_locks.gen + 1
		RETURNING gen`, site).Scan(&gen)
	if err != nil {
		return 0, err
	}
	var expires sql.NullTime
	if !h.Expires.IsZero() {
		expires = sql.NullTime{Time: h.Expires.UTC(), Valid: true}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO pinery_shard_locks (site, shard, token, user_name, machine, pid, command, since, expires)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (site, shard) DO UPDATE SET token = excluded.token, user_name = excluded.user_name,
			machine = excluded.machine, pid = excluded.pid, command = excluded.command,
			since = excluded.since, expires = excluded.expires`,
		site, h.Shard, token, h.User, h.Machine, h.PID, h.Command, h.Since.UTC(), expires)
	return gen, err
}

// clearShardLock marks a shard's lock free (only if token holds it, unless
// token is ""; every shard of the site if shard is "").
func clearShardLock(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, site, shard, token string) error {
	_, err := db.ExecContext(ctx, `UPDATE pinery_shard_locks SET token = NULL
		WHERE site = $1 AND ($2 = '' OR shard = $2) AND ($3 = '' OR token = $3)`, site, shard, token)
	return err
}

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func holdersOf(rows []shardRow) []Holder {
	out := make([]Holder, len(rows))
	for i, r := range rows {
		out[i] = r.holder
	}
	return out
}

// broken is what BreakLock(site, shard) frees of the live locks: the
// shard's, or with shard "" all of them.
func broken(whole *Holder, shards []shardRow, shard string) []Holder {
	var out []Holder
	if whole != nil && shard == "" {
		out = append(out, *whole)
	}
	for _, s := range shards {
		if shard == "" || s.holder.Shard == shard {
			out = append(out, s.holder)
		}
	}
	return out
}
