package backend

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Site is what the backend knows a site by, and where its work tree stands.
type Site struct {
	// ID names the site in the lock and the history. In a git checkout
	// with a remote it is the remote's host and path and the site's path in
	// the repository ("github.com/acme/infra//sites/prod"), so that every
	// clone of the repository (laptops, CI runners) shares one lock and one
	// history; otherwise it is the site directory's absolute path.
	ID     string
	Commit string // HEAD ("": not in git, or no commit yet)
	Dirty  bool   // uncommitted changes in the work tree (.pinery/ aside)
	// Warning says why git could not be asked, when the site seems to be in
	// a checkout (the ID is then the path, and no commit is recorded).
	Warning string
}

// SiteOf identifies the site in dir. It asks the git command (when
// installed) rather than reading .git itself: only git knows worktrees,
// includes, and whether the work tree is dirty.
func SiteOf(ctx context.Context, dir string) (Site, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return Site{}, fmt.Errorf("site %s: %w", dir, err)
	}
	s := Site{ID: abs}
	if _, err := exec.LookPath("git"); err != nil {
		if inCheckout(abs) {
			s.Warning = "git is not installed: the site is known by its path and its commit is not recorded"
		}
		return s, nil
	}
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", abs}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	inside, err := git("rev-parse", "--is-inside-work-tree")
	if err != nil || inside != "true" {
		if inCheckout(abs) {
			s.Warning = fmt.Sprintf("the site seems to be in a git checkout, but %v; it is known by its path and its commit is not recorded", err)
		}
		return s, nil
	}
	prefix, err := git("rev-parse", "--show-prefix")
	if err != nil {
		return s, err
	}
	if remote := pickRemote(git); remote != "" {
		s.ID = NormalizeRemote(remote)
		if p := strings.TrimSuffix(prefix, "/"); p != "" {
			s.ID += "//" + p
		}
	}
	if c, err := git("rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err == nil {
		s.Commit = c
	}
	// Dirty anywhere in the repository (a site uses roles beside it), but
	// not for the site's own state.
	st, err := git("status", "--porcelain", "--", ":(top)", ":(exclude).pinery")
	if err != nil {
		return s, err
	}
	s.Dirty = st != ""
	return s, nil
}

// pickRemote is the URL of the remote "origin", else of the first remote.
func pickRemote(git func(...string) (string, error)) string {
	out, err := git("remote")
	names := strings.Fields(out)
	if err != nil || len(names) == 0 {
		return ""
	}
	name := names[0]
	if slices.Contains(names, "origin") {
		name = "origin"
	}
	u, err := git("remote", "get-url", name)
	if err != nil {
		return ""
	}
	return u
}

// inCheckout reports whether dir or a parent holds .git.
func inCheckout(dir string) bool {
	for {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// NormalizeRemote turns the forms of one repository's URL into one name:
// https://user:token@GitHub.com/acme/infra.git, ssh://git@github.com:22/acme/infra
// and git@github.com:acme/infra.git are all github.com/acme/infra. It
// never keeps a user or a password. A local path stays a path.
func NormalizeRemote(remote string) string {
	r := strings.TrimSpace(remote)
	var host, p string
	switch u, err := url.Parse(r); {
	case err == nil && u.Scheme == "file":
		return clean(u.Path)
	case err == nil && u.Scheme != "" && u.Host != "":
		host, p = u.Hostname(), u.Path
	case strings.HasPrefix(r, "/") || strings.HasPrefix(r, "."):
		return clean(r)
	default:
		// scp-like: [user@]host:path
		h, rest, ok := strings.Cut(r, ":")
		if !ok {
			return clean(dropUser(r))
		}
		host, p = dropUser(h), rest
	}
	host = strings.ToLower(dropUser(host))
	return host + "/" + strings.TrimPrefix(clean(p), "/")
}

func dropUser(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// clean drops a trailing slash and ".git".
func clean(p string) string {
	p = strings.TrimSuffix(path.Clean("/"+strings.TrimSuffix(p, "/")), "/.git")
	p = strings.TrimSuffix(p, ".git")
	if p == "" {
		return "/"
	}
	return p
}
