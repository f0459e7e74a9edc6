package build

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/zclconf/go-cty/cty"
)

// TestDebSameAsNFPM checks that pinery's own .deb writer (debfile.go)
// gives the bytes nfpm gave for the same staged tree, nfpm being what
// pinery packaged with before (packageDebNFPM, kept here as it was).
func TestDebSameAsNFPM(t *testing.T) {
	full := with(valid(), "name", str("hello"), "deb_version", str("1:1.0-2"),
		"deb_maintainer", str("Ops Team <ops@example.org>"), "deb_description", str("Says hello\nA longer text.\n\nSecond paragraph."),
		"deb_depends", strs("libc6 (>= 2.36)", "default-mta | mail-transport-agent"), "deb_recommends", strs("curl"),
		"deb_conflicts", strs("hello-old"), "deb_breaks", strs("hello-plugins (<< 1.0)"), "deb_replaces", strs("hello-old"),
		"deb_provides", strs("greeter"), "deb_suggests", strs("cowsay"), "deb_homepage", str("https://example.org/hello"),
		"deb_section", str("utils"), "deb_license", str("MIT"), "deb_conffiles", strs("/etc/hello.conf"),
		"deb_scripts", cty.MapVal(map[string]cty.Value{"postinst": str("systemctl daemon-reload || true\n"), "prerm": str("#!/bin/bash\necho bye"),
			"preinst": str("true"), "postrm": str("#!/bin/sh\nexit 0\n")}))
	plain := with(valid(), "name", str("plain"), "deb_version", str("2.5"), "deb_maintainer", str("A <a@example.org>"), "deb_arch", str("all"))
	for _, tc := range []struct {
		name  string
		attrs map[string]cty.Value
		tree  func(t *testing.T) (string, map[string]fs.FileMode)
	}{
		{"full", full, stageTree},
		{"plain", plain, stageTree},
		{"empty tree", plain, func(t *testing.T) (string, map[string]fs.FileMode) { return t.TempDir(), nil }},
		{"deep and odd", full, oddTree},
		{"copyright shipped", full, func(t *testing.T) (string, map[string]fs.FileMode) {
			stage, modes := stageTree(t)
			if err := os.MkdirAll(filepath.Join(stage, "usr/share/doc/hello"), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(stage, "usr/share/doc/hello/copyright"), "own\n", 0o644)
			return stage, modes
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stage, modes := tc.tree(t)
			b := newBuild(t, testBase(t), tc.attrs)
			var ours, theirs bytes.Buffer
			if err := b.deb.packageDeb(stage, modes, "arm64", &ours); err != nil {
				t.Fatal(err)
			}
			if err := b.deb.packageDebNFPM(stage, modes, "arm64", &theirs); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours.Bytes(), theirs.Bytes()) {
				a, n := arMembers(t, ours.Bytes()), arMembers(t, theirs.Bytes())
				for _, m := range []string{"debian-binary", "control.tar.gz", "data.tar.gz"} {
					if !bytes.Equal(a[m], n[m]) {
						t.Errorf("%s differs from nfpm's", m)
						if m != "debian-binary" {
							x, y := untarGz(t, a[m]), untarGz(t, n[m])
							for name, f := range y {
								g, ok := x[name]
								switch {
								case !ok:
									t.Errorf("  %s: missing", name)
								case g.body != f.body:
									t.Errorf("  %s: body %q, nfpm %q", name, g.body, f.body)
								case fmt.Sprint(*g.hdr) != fmt.Sprint(*f.hdr):
									t.Errorf("  %s: header\n%+v\nnfpm\n%+v", name, *g.hdr, *f.hdr)
								}
							}
							for name := range x {
								if _, ok := y[name]; !ok {
									t.Errorf("  %s: not in nfpm's", name)
								}
							}
						}
					}
				}
				if !t.Failed() {
					t.Error("the archives differ outside their members")
				}
			}
		})
	}
}

// oddTree has deep directories that are not staged themselves, odd file
// sizes, special mode bits and a directory sorting after a file with the
// same prefix.
func oddTree(t *testing.T) (string, map[string]fs.FileMode) {
	t.Helper()
	stage, modes := stageTree(t)
	for _, d := range []string{"opt/a/b/c", "var/lib/hello", "usr/lib/hello"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	modes["var/lib/hello"] = fs.ModeDir | fs.ModeSetgid | 0o2775
	modes["opt/a/b/c"] = fs.ModeDir | fs.ModeSticky | 0o1777
	write(t, filepath.Join(stage, "opt/a/b/c/odd"), "abc", 0o600)
	write(t, filepath.Join(stage, "usr/lib/hello-data"), strings.Repeat("x", 4097), 0o600)
	write(t, filepath.Join(stage, "usr/lib/hello/big"), strings.Repeat("0123456789", 300000), 0o600)
	modes["usr/lib/hello/big"] = 0o644
	old := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	if err := os.Chtimes(filepath.Join(stage, "opt/a/b/c/odd"), old, old); err != nil {
		t.Fatal(err)
	}
	return stage, modes
}

// packageDebNFPM is packageDeb as it was with nfpm.
func (d *debSpec) packageDebNFPM(stage string, modes map[string]fs.FileMode, builder string, w io.Writer) error {
	extra, err := os.MkdirTemp("", "pinery-deb-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(extra)

	conf := map[string]bool{}
	for _, c := range d.Conffiles {
		conf[c] = true
	}
	var contents files.Contents
	var latest time.Time
	err = filepath.WalkDir(stage, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(stage, p)
		if rel == "." {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		if m, ok := modes[filepath.ToSlash(rel)]; ok {
			mode = m
		}
		dst := "/" + filepath.ToSlash(rel)
		fi := &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: info.ModTime(), Size: info.Size()}
		c := &files.Content{Destination: dst, FileInfo: fi}
		switch {
		case e.IsDir():
			c.Type = files.TypeDir
		case e.Type()&fs.ModeSymlink != 0:
			c.Type = files.TypeSymlink
			if c.Source, err = os.Readlink(p); err != nil {
				return err
			}
		case e.Type().IsRegular():
			c.Type, c.Source = files.TypeFile, p
			if conf[dst] {
				c.Type = files.TypeConfig
				delete(conf, dst)
			}
			if info.ModTime().After(latest) {
				latest = info.ModTime()
			}
		default:
			return fmt.Errorf("%s is neither a file, a directory nor a symbolic link", dst)
		}
		contents = append(contents, c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the staged output: %w", err)
	}
	for c := range conf {
		return fmt.Errorf("deb_conffiles: %s is not a regular file in DESTDIR", c)
	}
	if d.License != "" {
		copyright := "/usr/share/doc/" + d.Name + "/copyright"
		if _, err := os.Lstat(filepath.Join(stage, filepath.FromSlash(copyright))); os.IsNotExist(err) {
			p := filepath.Join(extra, "copyright")
			text := "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: " + d.Name + "\n\nFiles: *\nLicense: " + d.License + "\n"
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				return err
			}
			contents = append(contents, &files.Content{Source: p, Destination: copyright, Type: files.TypeFile,
				FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o644, MTime: latest}})
		}
	}
	if latest.IsZero() {
		latest = time.Unix(0, 0)
	}
	scripts := map[string]string{}
	for name, text := range d.Scripts {
		if !strings.HasPrefix(text, "#!") {
			text = "#!/bin/sh\nset -e\n" + text
		}
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		p := filepath.Join(extra, name)
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			return err
		}
		scripts[name] = p
	}

	info := nfpm.WithDefaults(&nfpm.Info{
		Name: d.Name, Arch: d.archFor(builder), Platform: "linux",
		Epoch: d.epoch, Version: d.upstream, VersionSchema: "none",
		Section: d.Section, Priority: d.Priority, Maintainer: d.Maintainer,
		Description: d.Description, Homepage: d.Homepage, License: d.License,
		// The newest file's time, not now: the same staged tree always
		// makes the same bytes.
		MTime:           latest,
		DisableGlobbing: true,
		Overridables: nfpm.Overridables{
			Depends: d.Depends, Recommends: d.Recommends, Suggests: d.Suggests,
			Conflicts: d.Conflicts, Replaces: d.Replaces, Provides: d.Provides,
			Contents: contents,
			Umask:    0o022,
			Scripts: nfpm.Scripts{PreInstall: scripts["preinst"], PostInstall: scripts["postinst"],
				PreRemove: scripts["prerm"], PostRemove: scripts["postrm"]},
			Deb: nfpm.Deb{Breaks: d.Breaks, Arch: d.archFor(builder)},
		},
	})
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	if err := pkg.Package(info, w); err != nil {
		return fmt.Errorf("packaging %s with nfpm: %w", d.Name, err)
	}
	return nil
}
