package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/atomicfile"
	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/modules/build/internal/untar"
)

// collect streams the builder's kept DESTDIR to the controller, packages
// it and copies the artifacts, then writes the record last: a record
// always describes files that are complete.
func (b *Build) collect(ctx context.Context, h resource.Runner, in inputs) error {
	res, err := h.Run(ctx, fmt.Sprintf(`d=%s
grep -qx %s "$d/key" 2>/dev/null && [ -d "$d/dest" ] || exit %d
cd "$d/dest" && tar -cf - .
`, shellescape.Quote(b.hostDir), shellescape.Quote("key="+in.Key), exitChanged), nil)
	if err == nil && res.ExitCode == exitChanged {
		err = fmt.Errorf("the builder's last build is not the one planned (removed or rebuilt since); plan again")
	}
	if err == nil {
		err = res.Err("collecting DESTDIR")
	}
	if err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	stage, err := os.MkdirTemp("", "pinery-build-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	modes, err := untar.Unpack(bytes.NewReader(res.Stdout), stage, int64(len(res.Stdout)))
	if err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	rec := &record{Key: b.outputKey(in.Key), Build: in.Key, Spec: b.spec()}
	if b.deb != nil {
		if err := b.writeDeb(stage, modes, in.Arch, rec); err != nil {
			return fmt.Errorf("build %s: %w", b.name, err)
		}
	}
	if err := b.copyArtifacts(stage, modes, in.Arch, rec); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	old, _ := readRecord(b.recordPath(in.Arch))
	if err := atomicfile.Write(b.recordPath(in.Arch), rec.encode(), 0o644); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	b.removeStale(old, rec)
	return nil
}

func (b *Build) writeDeb(stage string, modes map[string]fs.FileMode, arch string, rec *record) error {
	name := b.deb.fileName(arch)
	var buf bytes.Buffer
	if err := b.deb.packageDeb(stage, modes, arch, &buf); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	if err := writeAtomic(filepath.Join(b.outDir, name), 0o644, &buf); err != nil {
		return err
	}
	rec.Files = append(rec.Files, [2]string{hex.EncodeToString(sum[:]), name})
	return nil
}

// copyArtifacts copies the regular files that match artifacts to
// OUTPUT/ARCH/, keeping their paths under DESTDIR.
func (b *Build) copyArtifacts(stage string, modes map[string]fs.FileMode, arch string, rec *record) error {
	var names []string
	for name := range modes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, pat := range b.artifacts {
		n := 0
		for _, name := range names {
			if ok, _ := path.Match(pat, name); !ok || !modes[name].IsRegular() {
				continue
			}
			n++
			rel := filepath.Join(arch, filepath.FromSlash(name))
			if have(rec, rel) {
				continue
			}
			sum, err := copyFile(filepath.Join(stage, filepath.FromSlash(name)), filepath.Join(b.outDir, rel), modes[name].Perm())
			if err != nil {
				return err
			}
			rec.Files = append(rec.Files, [2]string{sum, rel})
		}
		if n == 0 {
			return fmt.Errorf("artifacts: %q matches no file in DESTDIR", pat)
		}
	}
	return nil
}

func have(rec *record, rel string) bool {
	for _, f := range rec.Files {
		if f[1] == rel {
			return true
		}
	}
	return false
}

func copyFile(src, dst string, perm fs.FileMode) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	h := sha256.New()
	if err := writeAtomic(dst, perm, io.TeeReader(f, h)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// removeStale removes the files of the previous build that this one did
// not write again (an older version's .deb): output_dir holds one build.
func (b *Build) removeStale(old, rec *record) {
	if old == nil {
		return
	}
	for _, f := range old.Files {
		if !have(rec, f[1]) && localName(f[1]) {
			os.Remove(filepath.Join(b.outDir, f[1]))
		}
	}
}

// writeAtomic writes r to path through a temporary file in the same
// directory, synced and given its mode before it is renamed into place.
func writeAtomic(path string, perm fs.FileMode, r io.Reader) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
