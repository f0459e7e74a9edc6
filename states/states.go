// Package states is pinery's shipped state library: roles that a site
// includes by name (`role "base" { source = "base" }`). The roles are
// embedded in the binary and unpacked once per version into the user's
// cache directory, so that they are read like any role on disk.
package states

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

//go:embed */*.hcl */templates */files
var library embed.FS

// Roles lists the library's role names.
func Roles() []string {
	entries, _ := fs.ReadDir(library, ".")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

var (
	once   sync.Once
	dir    string
	dirErr error
)

// Dirs returns the library's directories, searched in order: those in
// $PINERY_STATES (colon-separated) first, then the embedded library.
func Dirs() ([]string, error) {
	var dirs []string
	for _, d := range strings.Split(os.Getenv("PINERY_STATES"), ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	once.Do(func() { dir, dirErr = unpack() })
	if dirErr != nil {
		return dirs, dirErr
	}
	return append(dirs, dir), nil
}

// unpack writes the embedded library to a directory named by its content
// hash, built beside it and renamed into place: concurrent runs and
// interrupted ones never see a half-written library.
func unpack() (string, error) {
	h := sha256.New()
	var files []string
	err := fs.WalkDir(library, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := library.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		files = append(files, p)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("state library: %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := filepath.Join(cache, "pinery", "states-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(root); err == nil {
		return root, nil
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", fmt.Errorf("state library: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".states-")
	if err != nil {
		return "", fmt.Errorf("state library: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, p := range files {
		b, _ := library.ReadFile(p)
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("state library: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return "", fmt.Errorf("state library: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("state library: %w", err)
	}
	if err := os.Rename(tmp, root); err != nil {
		if _, serr := os.Stat(root); serr == nil {
			return root, nil // another run unpacked it first
		}
		return "", fmt.Errorf("state library: %w", err)
	}
	return root, nil
}
