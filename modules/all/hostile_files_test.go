package all_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// What the value is as a path, and so what a module must make of it.

func hasNUL(s string) bool   { return strings.ContainsRune(s, 0) }
func hasBreak(s string) bool { return strings.ContainsAny(s, "\n\r") }

// clean reports whether dir/v is written as filepath.Clean writes it.
func clean(dir, v string) bool { p := dir + "/" + v; return filepath.Clean(p) == p }

// tooLong reports whether a component of v is longer than Linux allows.
func tooLong(v string) bool {
	for _, c := range strings.Split(v, "/") {
		if len(c) > 255 {
			return true
		}
	}
	return false
}

// badOwner reports whether v cannot name an owner: chown syntax (':', a
// leading '.'), an option, or what no account name holds.
func badOwner(v string) bool {
	if v == "" || strings.ContainsAny(v[:1], "-+.") || len(v) > 256 {
		return true
	}
	return strings.IndexFunc(v, func(r rune) bool {
		return r == ':' || r == '/' || unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0
}

// pathCase is a resource whose path is dir/v in an existing directory:
// applied exactly, refused when not a clean path, failed when v needs a
// missing directory (without parents) or a component is too long.
func (c *hcase) pathCase(dir string, v hostile, parents bool) *hcase {
	switch {
	case hasNUL(v.s) || !clean(dir, v.s):
		return c.expect("", rejected)
	case strings.Contains(v.s, "/") && !parents:
		return c.expect("does not exist", applyFailed)
	case tooLong(v.s):
		return c.expect("too long", applyFailed)
	}
	return c.expect("", converged)
}

// ownerCase is a resource owned by v, which names no account on the host:
// refused, or failed by chown, which quotes it.
func (c *hcase) ownerCase(v hostile) *hcase {
	if badOwner(v.s) {
		return c.expect("", rejected)
	}
	return c.expect("invalid", applyFailed)
}

func modeIs(h resource.Runner, p, want string) error {
	got, err := run(h, "stat -c %a -- "+q(p))
	if err != nil {
		return err
	}
	if got != want+"\n" {
		return fmt.Errorf("%s has mode %s, want %s", p, strings.TrimSpace(got), want)
	}
	return nil
}

func vals(kv ...any) map[string]cty.Value {
	m := map[string]cty.Value{}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			m[kv[i].(string)] = str(v)
		case bool:
			m[kv[i].(string)] = cty.BoolVal(v)
		case cty.Value:
			m[kv[i].(string)] = v
		default:
			panic(fmt.Sprintf("vals: %T", v))
		}
	}
	return m
}

func hostileFile(t *testing.T, f *fixture) {
	mustRun(t, f.h, "mkdir -- "+q(f.path("f")))
	t.Run("path", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			p := f.path("f", v.s)
			c := &hcase{typ: "file", field: "path", vals: vals("path", p, "content", "x\n", "mode", "0640")}
			c.check = func(h resource.Runner) error {
				if err := sameFile(h, p, "x\n"); err != nil {
					return err
				}
				return modeIs(h, p, "640")
			}
			return c.pathCase(f.path("f"), v, false)
		}), false)
	})
	for _, sensitive := range []bool{false, true} {
		t.Run(fmt.Sprintf("content sensitive=%v", sensitive), func(t *testing.T) {
			drive(t, f.h, each(func(i int, v hostile) *hcase {
				p := f.path(fmt.Sprintf("fc-%v-%d", sensitive, i))
				c := &hcase{typ: "file", field: "content", vals: vals("path", p, "content", v.s)}
				mode := "644"
				if sensitive {
					c.sens, mode = []string{"content"}, "600"
				}
				c.check = func(h resource.Runner) error {
					if err := sameFile(h, p, v.s); err != nil {
						return err
					}
					return modeIs(h, p, mode)
				}
				return c.expect("", converged)
			}), false)
		})
	}
	for _, field := range []string{"owner", "group"} {
		t.Run(field, func(t *testing.T) {
			drive(t, f.h, each(func(i int, v hostile) *hcase {
				p := f.path("f" + field + "-" + strconv.Itoa(i))
				c := &hcase{typ: "file", field: field, vals: vals("path", p, "content", "x", field, v.s)}
				return c.ownerCase(v)
			}), false)
		})
	}
}

func hostileDirectory(t *testing.T, f *fixture) {
	mustRun(t, f.h, "mkdir -- "+q(f.path("d")))
	t.Run("path", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			p := f.path("d", v.s)
			c := &hcase{typ: "directory", field: "path", vals: vals("path", p, "mode", "0750")}
			c.check = func(h resource.Runner) error { return modeIs(h, p, "750") }
			return c.pathCase(f.path("d"), v, true)
		}), false)
	})
	t.Run("owner", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			c := &hcase{typ: "directory", field: "owner", vals: vals("path", f.path("do-"+strconv.Itoa(i)), "owner", v.s)}
			return c.ownerCase(v)
		}), false)
	})
}

func hostileSymlink(t *testing.T, f *fixture) {
	mustRun(t, f.h, "mkdir -- "+q(f.path("s")))
	readlink := func(p, want string) func(resource.Runner) error {
		return func(h resource.Runner) error {
			got, err := run(h, "readlink -- "+q(p))
			if err == nil && got != want+"\n" {
				err = fmt.Errorf("%s points to %q, want %q", p, got, want)
			}
			return err
		}
	}
	t.Run("path", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			p := f.path("s", v.s)
			c := &hcase{typ: "symlink", field: "path", vals: vals("path", p, "target", "t"), check: readlink(p, "t")}
			return c.pathCase(f.path("s"), v, false)
		}), false)
	})
	t.Run("target", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			p := f.path("st-" + strconv.Itoa(i))
			c := &hcase{typ: "symlink", field: "target", vals: vals("path", p, "target", v.s), check: readlink(p, v.s)}
			if v.s == "" || hasNUL(v.s) || hasBreak(v.s) || len(v.s) >= 4096 {
				return c.expect("", rejected)
			}
			return c.expect("", converged)
		}), false)
	})
}

func hostileLine(t *testing.T, f *fixture) {
	mustRun(t, f.h, "mkdir -- "+q(f.path("l")))
	t.Run("path", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			p := f.path("l", v.s)
			c := &hcase{typ: "line", field: "path", vals: vals("path", p, "line", "x", "create", true)}
			c.check = func(h resource.Runner) error { return sameFile(h, p, "x\n") }
			return c.pathCase(f.path("l"), v, false)
		}), false)
	})
	for _, sensitive := range []bool{false, true} {
		t.Run(fmt.Sprintf("line sensitive=%v", sensitive), func(t *testing.T) {
			drive(t, f.h, each(func(i int, v hostile) *hcase {
				p := f.path(fmt.Sprintf("lv-%v-%d", sensitive, i))
				c := &hcase{typ: "line", field: "line", vals: vals("path", p, "line", v.s, "create", true)}
				mode := "644"
				if sensitive {
					c.sens, mode = []string{"line"}, "600"
				}
				c.check = func(h resource.Runner) error {
					if err := sameFile(h, p, v.s+"\n"); err != nil {
						return err
					}
					return modeIs(h, p, mode)
				}
				if hasNUL(v.s) || hasBreak(v.s) {
					return c.expect("", rejected)
				}
				return c.expect("", converged)
			}), false)
		})
	}
}

func hostileArchive(t *testing.T, f *fixture) {
	src, sum := tarball(t)
	mustRun(t, f.h, "mkdir -- "+q(f.path("a")))
	t.Run("destination", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			d := f.path("a", v.s)
			c := &hcase{typ: "archive", field: "destination", vals: vals("source", src, "sha256", sum, "destination", d)}
			c.check = func(h resource.Runner) error { return sameFile(h, d+"/hello.txt", "hello\n") }
			switch {
			case hasNUL(v.s) || !clean(f.path("a"), v.s):
				return c.expect("", rejected)
			case tooLong(v.s):
				return c.expect("", applyFailed)
			}
			return c.expect("", converged)
		}), false)
	})
	t.Run("owner", func(t *testing.T) {
		drive(t, f.h, each(func(i int, v hostile) *hcase {
			d := f.path("ao-" + strconv.Itoa(i))
			c := &hcase{typ: "archive", field: "owner", vals: vals("source", src, "sha256", sum, "destination", d, "owner", v.s)}
			return c.ownerCase(v)
		}), false)
	})
}

// tarball writes a .tar.gz with one file on the controller and returns its
// path and SHA-256.
func tarball(t testing.TB) (string, string) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("hello\n")
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "hello.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(buf.Bytes())
	return p, hex.EncodeToString(s[:])
}
