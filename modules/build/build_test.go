package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func TestNewValidation(t *testing.T) {
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	commit := strings.Repeat("a", 40)
	tests := []struct {
		name, field, want string
		vals              map[string]cty.Value
	}{
		{"bad name", "name", "cannot name", with(valid(), "name", str("a/b"))},
		{"no source", "script", "set one source", with(valid(), "source_dir", nil)},
		{"two sources", "source_git", "exactly one source", with(valid(), "source_git", str("https://x/y.git"))},
		{"missing dir", "source_dir", "cannot read", with(valid(), "source_dir", str("nope"))},
		{"file as dir", "source_dir", "not a directory", with(valid(), "source_dir", str("src/hello.c"))},
		{"url without sum", "source_url", "needs source_sha256", with(valid(), "source_dir", nil, "source_url", str("https://example.org/a.tar.gz"))},
		{"url scheme", "source_url", "not an http", with(valid(), "source_dir", nil, "source_url", str("ftp://example.org/a.tgz"), "source_sha256", str(sum))},
		{"bad sum", "source_sha256", "64 lower-case hex", with(valid(), "source_dir", nil, "source_url", str("https://example.org/a.tgz"), "source_sha256", str("ABC"))},
		{"sum without url", "source_sha256", "goes with source_url", with(valid(), "source_sha256", str(sum))},
		{"branch ref", "source_ref", "full commit hash", with(valid(), "source_dir", nil, "source_git", str("https://x/y.git"), "source_ref", str("main"))},
		{"short ref", "source_ref", "full commit hash", with(valid(), "source_dir", nil, "source_git", str("https://x/y.git"), "source_ref", str("abc1234"))},
		{"dash repo", "source_git", "starting with -", with(valid(), "source_dir", nil, "source_git", str("--upload-pack=x"), "source_ref", str(commit))},
		{"ref without git", "source_ref", "goes with source_git", with(valid(), "source_ref", str(commit))},
		{"bad depends", "build_depends", "not a Debian package", with(valid(), "build_depends", strs("gcc; rm -rf /"))},
		{"empty script", "script", "must not be empty", with(valid(), "script", str("  \n"))},
		{"absolute artifact", "artifacts", "relative to DESTDIR", with(valid(), "artifacts", strs("/usr/bin/*"))},
		{"dotdot artifact", "artifacts", "must not contain ..", with(valid(), "artifacts", strs("usr/../../etc/*"))},
		{"bad pattern", "artifacts", "not a valid pattern", with(valid(), "artifacts", strs("usr/[bin"))},
		{"nothing collected", "script", "collects nothing", with(valid(), "deb_version", nil, "deb_maintainer", nil)},
		{"deb field without version", "deb_depends", "without deb_version", with(valid(), "deb_version", nil, "deb_maintainer", nil, "deb_depends", strs("libc6"), "artifacts", strs("usr/bin/*"))},
		{"no maintainer", "deb_version", "needs deb_maintainer", with(valid(), "deb_maintainer", nil)},
		{"bad maintainer", "deb_maintainer", "angle brackets", with(valid(), "deb_maintainer", str("ops@example.org"))},
		{"invalid deb name from label", "name", "not a Debian package name", with(valid(), "name", str("Hello_World"))},
		{"invalid deb name", "deb_name", "not a Debian package name", with(valid(), "deb_name", str("Hello"))},
		{"version letter", "deb_version", "start with a digit", with(valid(), "deb_version", str("v1.0"))},
		{"version epoch", "deb_version", "epoch", with(valid(), "deb_version", str("x:1.0"))},
		{"version revision", "deb_version", "revision", with(valid(), "deb_version", str("1.0-1_2"))},
		{"version space", "deb_version", "not a Debian version", with(valid(), "deb_version", str("1.0 beta"))},
		{"bad arch", "deb_arch", "not a Debian architecture", with(valid(), "deb_arch", str("ARM64"))},
		{"bad priority", "deb_priority", "must be one of", with(valid(), "deb_priority", str("urgent"))},
		{"comma relation", "deb_depends", "not one relation", with(valid(), "deb_depends", strs("libc6, libssl3"))},
		{"relative conffile", "deb_conffiles", "clean absolute path", with(valid(), "deb_conffiles", strs("etc/hello.conf"))},
		{"unknown script", "deb_scripts", "not a maintainer script", with(valid(), "deb_scripts", cty.MapVal(map[string]cty.Value{"postinstall": str("true")}))},
		{"empty description", "deb_description", "must not be empty", with(valid(), "deb_description", str(" "))},
	}
	base := testBase(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, base, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %v, want field %s with %q", err, tt.field, tt.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	base := testBase(t)
	b := newBuild(t, base, with(valid(), "deb_version", str("2:1.0~rc1-3"), "build_depends", strs("make", "gcc", "make")))
	if b.name != "test" || b.hostDir != "/var/lib/pinery/builds/test" {
		t.Errorf("name %q, host dir %q", b.name, b.hostDir)
	}
	if want := filepath.Join(base, ".pinery", "build", "test"); b.outDir != want {
		t.Errorf("output dir %q, want %q", b.outDir, want)
	}
	if strings.Join(b.deps, " ") != "gcc make" {
		t.Errorf("deps %q: want sorted and unique", b.deps)
	}
	if b.deb.epoch != "2" || b.deb.upstream != "1.0~rc1-3" || b.deb.fileName("arm64") != "test_1.0~rc1-3_arm64.deb" {
		t.Errorf("version: %+v, file %s", b.deb, b.deb.fileName("arm64"))
	}
	if b.deb.Section != "misc" || b.deb.Priority != "optional" || b.deb.Description != "test, built by pinery" {
		t.Errorf("defaults: %+v", b.deb)
	}
	g := newBuild(t, base, with(valid(), "source_dir", nil, "source_git", str("https://example.org/x.git"), "source_ref", str(strings.Repeat("b", 40)), "name", str("xy")))
	if strings.Join(g.deps, " ") != "git" || g.src.digest != "git:"+strings.Repeat("b", 40) {
		t.Errorf("git source: deps %q, digest %q", g.deps, g.src.digest)
	}
}

// TestKeys: the same inputs give the same keys; each input changes the
// builder's key or only the output key, as documented.
func TestKeys(t *testing.T) {
	base := testBase(t)
	ref := newBuild(t, base, valid())
	k := ref.inputs("arm64").Key
	if again := newBuild(t, base, valid()).inputs("arm64").Key; again != k {
		t.Fatalf("key not stable: %s then %s", k, again)
	}
	if len(k) != 64 {
		t.Fatalf("key %q is not a sha256", k)
	}
	okey := ref.outputKey(k)

	rebuild := []struct {
		name string
		mut  func(t *testing.T) (*Build, string)
	}{
		{"arch", func(t *testing.T) (*Build, string) { return ref, "amd64" }},
		{"script", func(t *testing.T) (*Build, string) {
			return newBuild(t, base, with(valid(), "script", str("make install V=1"))), "arm64"
		}},
		{"build_depends", func(t *testing.T) (*Build, string) {
			return newBuild(t, base, with(valid(), "build_depends", strs("gcc"))), "arm64"
		}},
		{"source content", func(t *testing.T) (*Build, string) {
			b2 := copyBase(t, base)
			write(t, filepath.Join(b2, "src", "hello.c"), "int main(void) { return 1; }\n", 0o644)
			return newBuild(t, b2, valid()), "arm64"
		}},
		{"source exec bit", func(t *testing.T) (*Build, string) {
			b2 := copyBase(t, base)
			write(t, filepath.Join(b2, "src", "hello.c"), "int main(void) { return 0; }\n", 0o755)
			return newBuild(t, b2, valid()), "arm64"
		}},
		{"source new file", func(t *testing.T) (*Build, string) {
			b2 := copyBase(t, base)
			write(t, filepath.Join(b2, "src", "README"), "", 0o644)
			return newBuild(t, b2, valid()), "arm64"
		}},
		{"source renamed", func(t *testing.T) (*Build, string) {
			b2 := t.TempDir()
			write(t, filepath.Join(b2, "src", "hello2.c"), "int main(void) { return 0; }\n", 0o644)
			write(t, filepath.Join(b2, "src", "build.sh"), "#!/bin/sh\n", 0o755)
			return newBuild(t, b2, valid()), "arm64"
		}},
	}
	for _, tt := range rebuild {
		t.Run(tt.name, func(t *testing.T) {
			b, arch := tt.mut(t)
			if b.inputs(arch).Key == k {
				t.Errorf("changing %s does not change the build key", tt.name)
			}
		})
	}

	// What the controller makes of the result: same build, new output key.
	for _, kv := range [][2]any{
		{"deb_version", str("1.0-2")}, {"deb_depends", strs("libc6")}, {"deb_name", str("hello")},
		{"deb_arch", str("all")}, {"deb_scripts", cty.MapVal(map[string]cty.Value{"postinst": str("true")})},
		{"artifacts", strs("usr/bin/*")}, {"deb_conffiles", strs("/etc/x")}, {"deb_description", str("x")},
	} {
		b := newBuild(t, base, with(valid(), kv[0], kv[1]))
		if b.inputs("arm64").Key != k {
			t.Errorf("%s changes the build key; it should only repackage", kv[0])
		}
		if b.outputKey(k) == okey {
			t.Errorf("%s does not change the output key", kv[0])
		}
	}

	// What does not matter: times, other fields' order, .git, the output.
	b2 := copyBase(t, base)
	write(t, filepath.Join(b2, "src", ".git", "HEAD"), "ref: x\n", 0o644)
	write(t, filepath.Join(b2, "src", ".pinery", "build", "x"), "", 0o644)
	if newBuild(t, b2, valid()).inputs("arm64").Key != k {
		t.Error(".git or .pinery in the source changes the key")
	}
	out := newBuild(t, b2, with(valid(), "output_dir", str("src/out")))
	write(t, filepath.Join(b2, "src", "out", "old.deb"), "x", 0o644)
	if newBuild(t, b2, with(valid(), "output_dir", str("src/out"))).inputs("arm64").Key != out.inputs("arm64").Key {
		t.Error("files in output_dir inside the source change the key")
	}
}

func copyBase(t *testing.T, base string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(base)); err != nil {
		t.Fatal(err)
	}
	return dst
}
