package backend

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSQLiteFile(t *testing.T) {
	path := SQLitePath(t.TempDir())
	if _, err := OpenSQLite(ctx(t), path, false, TTL); !errors.Is(err, ErrNoState) {
		t.Fatalf("opening a missing state without create: %v, want ErrNoState", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read created the state file: %v", err)
	}
	b, err := OpenSQLite(ctx(t), path, true, TTL)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600 (it names who ran what)", st.Mode().Perm())
	}

	// A state written by a newer pinery is refused, not misread.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO pinery_schema (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = OpenSQLite(ctx(t), path, false, TTL)
	if err == nil || !strings.Contains(err.Error(), "newer pinery (schema 99") {
		t.Errorf("opening a newer schema: %v", err)
	}
}

func TestOpenSpec(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(ctx(t), "", dir, true)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := os.Stat(filepath.Join(dir, ".pinery", "state.db")); err != nil {
		t.Errorf("default backend: %v", err)
	}
	_, err = Open(ctx(t), "mysql://root:hunter2@db/pinery", dir, true)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "not a postgres:// URL") {
		t.Errorf("unknown backend: %v", err)
	}
}
