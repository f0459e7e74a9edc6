package backend

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNormalizeRemote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://github.com/acme/infra.git", "github.com/acme/infra"},
		{"https://x-access-token:ghs_T0KEN@GitHub.com/acme/infra", "github.com/acme/infra"},
		{"https://gitlab-ci-token:glcbt-SECRET@gitlab.example:8443/ops/site.git/", "gitlab.example/ops/site"},
		{"ssh://git@github.com:22/acme/infra.git", "github.com/acme/infra"},
		{"git@github.com:acme/infra.git", "github.com/acme/infra"},
		{"github.com:acme/infra", "github.com/acme/infra"},
		{"file:///srv/git/infra.git", "/srv/git/infra"},
		{"/srv/git/infra.git/", "/srv/git/infra"},
		{"/srv/git/infra/.git", "/srv/git/infra"},
	} {
		if got := NormalizeRemote(c.in); got != c.want {
			t.Errorf("NormalizeRemote(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A remote's credentials never reach the site ID (it is stored and shown).
func FuzzNormalizeRemote(f *testing.F) {
	for _, s := range []string{"https://u:p@h/x.git", "git@h:x", "ssh://u@h:22/x", "/x/y.git", "file:///x", "h:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, remote string) {
		got := NormalizeRemote(remote)
		if strings.HasPrefix(got, "/") {
			return // a local path
		}
		host, _, _ := strings.Cut(got, "/")
		if strings.Contains(host, "@") {
			t.Errorf("NormalizeRemote(%q) = %q keeps a user", remote, got)
		}
	})
}

func TestSiteOf(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	site := filepath.Join(repo, "sites", "prod")
	os.MkdirAll(site, 0o755)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}

	// Not (yet) a checkout: the path.
	s, err := SiteOf(ctx(t), site)
	if err != nil || s.ID != site || s.Commit != "" || s.Warning != "" {
		t.Fatalf("plain directory: %+v, %v; want its path", s, err)
	}

	git("init", "-q")
	os.WriteFile(filepath.Join(site, "main.hcl"), []byte("# site\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "site")
	// No remote: still the path, with the commit.
	s, err = SiteOf(ctx(t), site)
	if err != nil || s.ID != site || len(s.Commit) != 40 || s.Dirty {
		t.Fatalf("checkout without remote: %+v, %v", s, err)
	}

	git("remote", "add", "upstream", "https://ci:t0ken@git.example/ops/infra.git")
	git("remote", "add", "origin", "git@git.example:ops/infra.git")
	s, err = SiteOf(ctx(t), site)
	if err != nil || s.ID != "git.example/ops/infra//sites/prod" || s.Dirty {
		t.Fatalf("checkout: %+v, %v; want origin's ID, clean", s, err)
	}
	if s, _ := SiteOf(ctx(t), repo); s.ID != "git.example/ops/infra" {
		t.Errorf("repository root: ID %q", s.ID)
	}

	// The site's own state does not make it dirty; any other change does,
	// even outside the site (roles beside it).
	os.MkdirAll(filepath.Join(site, ".pinery"), 0o755)
	os.WriteFile(filepath.Join(site, ".pinery", "state.db"), []byte("x"), 0o600)
	if s, _ := SiteOf(ctx(t), site); s.Dirty {
		t.Error(".pinery/ made the site dirty")
	}
	os.WriteFile(filepath.Join(repo, "role.hcl"), []byte("# new\n"), 0o644)
	if s, _ := SiteOf(ctx(t), site); !s.Dirty {
		t.Error("an untracked file in the repository: not dirty")
	}
}
