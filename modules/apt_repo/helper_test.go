package aptrepo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
)

// debFile writes a test .deb into dir and returns its path.
func debFile(t *testing.T, dir, name, version, arch string) string {
	t.Helper()
	p := filepath.Join(dir, name+"_"+version+"_"+arch+".deb")
	if err := os.WriteFile(p, aptrepotest.Deb(t, name, version, arch), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readDeb(t *testing.T, file string) *Package {
	t.Helper()
	p, err := ReadDebFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testRepo is a repository in a temporary directory with its key.
type testRepo struct {
	*Repo
	key  *Key
	pub  []byte
	debs string // where test .debs are written
}

func newTestRepo(t *testing.T, archs ...string) *testRepo {
	t.Helper()
	k, pub := testKey(t, aptrepotest.KeyOptions{})
	r, err := Create(filepath.Join(t.TempDir(), "repo"), Settings{Architectures: archs}, k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &testRepo{Repo: r, key: k, pub: pub, debs: t.TempDir()}
}

// add adds test packages "name version arch" to stable/main.
func (r *testRepo) add(t *testing.T, specs ...string) {
	t.Helper()
	for _, s := range specs {
		f := strings.Fields(s)
		if _, err := r.Add("stable", "main", readDeb(t, debFile(t, r.debs, f[0], f[1], f[2])), false); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *testRepo) publish(t *testing.T, opts PublishOptions) *Published {
	t.Helper()
	res, err := r.Publish("stable", r.key, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// sound fails the test unless Verify finds the suite sound.
func (r *testRepo) sound(t *testing.T) {
	t.Helper()
	if problems := Verify(r.Dir, "stable", time.Now()); len(problems) > 0 {
		t.Fatalf("Verify:\n%s", strings.Join(problems, "\n"))
	}
}

func (r *testRepo) path(p string) string { return filepath.Join(r.Dir, filepath.FromSlash(p)) }

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
