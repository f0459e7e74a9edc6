package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

const (
	// tailLines of the log are quoted in the error of a failed build.
	tailLines = 40
	// maxLogCopy bounds the log copied to the controller: its end is kept.
	maxLogCopy = 16 << 20
)

// Exit statuses of the build script, one per phase.
const (
	exitChanged = 5  // the builder is not what the plan saw
	exitSource  = 10 // fetching or unpacking the source
	exitDepends = 11 // installing build_depends
	exitScript  = 12 // the recipe itself
)

// Apply builds on the host when the plan says so, then collects the
// output to the controller and packages it.
func (b *Build) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("build %s: the plan carries no build changes", b.name)
	}
	in := b.inputs(priv.Arch)
	if err := os.MkdirAll(b.outDir, 0o755); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	if priv.Build {
		if err := b.build(ctx, h, in); err != nil {
			return err
		}
	}
	return b.collect(ctx, h, in)
}

// build runs the recipe on the host in a fresh work directory: the script
// and the source are sent first, each on stdin of its own session (never
// on a command line, which ps shows), then the build runs with its output
// going to build.log on the host, not through the session.
func (b *Build) build(ctx context.Context, h resource.Runner, in inputs) error {
	// What can fail on the controller fails before the builder's last
	// build is removed.
	archive := ""
	switch b.src.kind {
	case srcURL:
		p, err := b.cachedArchive(ctx)
		if err == nil {
			err = copyArchive(nil, p) // is it a tar?
		}
		if err != nil {
			return fmt.Errorf("build %s: %w", b.name, err)
		}
		archive = p
	case srcDir:
		if err := b.checkSourceDir(nil); err != nil {
			return fmt.Errorf("build %s: %w", b.name, err)
		}
	}
	q := shellescape.Quote
	prepare := fmt.Sprintf(`d=%s; w=$d/work
umask 022; mkdir -p %s || exit 1
umask 077; mkdir -p -- "$d" || exit 1
rm -f -- "$d/key" && rm -rf -- "$d/dest" "$w" && mkdir -- "$w" "$w/src" "$w/dest" || exit 1
cat >"$w/build.sh" || exit 1
`, q(b.hostDir), buildsDir)
	if err := b.run(ctx, h, "preparing the work directory", prepare, strings.NewReader(b.script)); err != nil {
		return err
	}
	if b.src.kind != srcGit {
		if err := b.sendSource(ctx, h, archive); err != nil {
			return err
		}
	}
	var stdin io.Reader
	if b.src.kind == srcGit {
		stdin = strings.NewReader(b.src.url + "\n")
	}
	res, err := h.Run(ctx, b.buildScript(in), stdin)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	log, logErr := b.fetchLog(ctx, h, in.Arch)
	if res.ExitCode == 0 {
		return logErr
	}
	return b.failure(res, in.Arch, log, logErr)
}

// sendSource streams the source to the host's work directory as a tar:
// the directory, packed as it is now (it must be what the state loaded),
// or the archive, unpacked here so that the builder needs no decompressor.
func (b *Build) sendSource(ctx context.Context, h resource.Runner, archive string) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		var err error
		if b.src.kind == srcDir {
			err = b.checkSourceDir(pw)
		} else {
			err = copyArchive(pw, archive)
		}
		pw.CloseWithError(err)
		done <- err
	}()
	// The host keeps the stream in a file first: only a complete one, that
	// the controller vouched for, is unpacked.
	res, err := h.Run(ctx, fmt.Sprintf(`w=%s/work
cat >"$w/source.tar" || exit 1
`, shellescape.Quote(b.hostDir)), pr)
	pr.CloseWithError(errHostStopped) // unblocks the writer if the host stopped reading
	if srcErr := <-done; srcErr != nil && !errors.Is(srcErr, errHostStopped) {
		return fmt.Errorf("build %s: %w", b.name, srcErr)
	}
	if err == nil {
		err = res.Err("sending the source")
	}
	if err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	return nil
}

var errHostStopped = errors.New("the host stopped reading the source")

// checkSourceDir packs source_dir to w (nil: only hashes it) and checks
// that it is still what the state loaded, which the plan showed.
func (b *Build) checkSourceDir(w io.Writer) error {
	digest, err := packSource(b.src.dir, b.outDir, w)
	if err == nil && digest != b.src.digest {
		err = fmt.Errorf("source_dir %s changed since the state was loaded; plan again", b.src.dir)
	}
	return err
}

// copyArchive writes the plain tar of an archive file to w; with w nil,
// it only checks that the archive holds a tar.
func copyArchive(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	r, done, err := decompress(f)
	if err != nil {
		return fmt.Errorf("source archive %s: %w", p, err)
	}
	defer done()
	if w == nil {
		return nil
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("source archive %s: %w", p, err)
	}
	return nil
}

// buildScript installs what is missing, unpacks or clones the source, runs
// the recipe and keeps its DESTDIR; its exit status names the phase that
// failed. Everything it prints goes to build.log.
func (b *Build) buildScript(in inputs) string {
	q := shellescape.Quote
	var s strings.Builder
	fmt.Fprintf(&s, `d=%s; w=$d/work; arch=%s
[ -d "$w/src" ] && [ -f "$w/build.sh" ] || exit %d
`, q(b.hostDir), q(in.Arch), exitChanged)
	if b.src.kind == srcGit {
		s.WriteString("IFS= read -r repo || exit 1\n")
	}
	fmt.Fprintf(&s, `exec >"$d/build.log" 2>&1 </dev/null
say() { printf '==> pinery: %%s\n' "$*"; }
say "build %s on $(hostname) at $(date -u '+%%Y-%%m-%%d %%H:%%M:%%S UTC')"
[ "$(dpkg --print-architecture)" = "$arch" ] || { say "the builder is not $arch, as planned"; exit %d; }
`, b.name, exitChanged)
	if len(b.deps) > 0 {
		var quoted []string
		for _, p := range b.deps {
			quoted = append(quoted, q(p))
		}
		fmt.Fprintf(&s, `missing=
for p in %s; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing build_depends:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q update && apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends $missing || { say "installing build_depends failed"; exit %d; }
fi
`, strings.Join(quoted, " "), exitDepends)
	}
	s.WriteString("s=$w/src\n")
	switch b.src.kind {
	case srcGit:
		fmt.Fprintf(&s, `say "fetching commit %[1]s"
export GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=true
: "${GIT_SSH_COMMAND:=ssh -o BatchMode=yes}"; export GIT_SSH_COMMAND
{ git init -q "$s" && git -C "$s" remote add origin "$repo" &&
  { git -C "$s" fetch -q --depth 1 origin %[1]s || git -C "$s" fetch -q origin; } &&
  git -C "$s" -c advice.detachedHead=false checkout -q --detach %[1]s &&
  git -C "$s" submodule -q update --init --recursive --depth 1; } || { say "fetching the source failed"; exit %[2]d; }
`, b.src.commit, exitSource)
	default:
		fmt.Fprintf(&s, `say "unpacking the source"
tar -xf "$w/source.tar" -C "$s" --no-same-owner && rm -f -- "$w/source.tar" || { say "unpacking the source failed"; exit %d; }
`, exitSource)
		if b.src.kind == srcURL {
			// An archive of one top directory (hello-1.0/) builds in it.
			s.WriteString(`set -- "$s"/* "$s"/.[!.]* "$s"/..?*; n=0
for e; do if [ -e "$e" ] || [ -L "$e" ]; then n=$((n+1)); one=$e; fi; done
if [ "$n" = 1 ] && [ -d "$one" ] && [ ! -L "$one" ]; then s=$one; fi
`)
		}
	}
	fmt.Fprintf(&s, `say "running the script in $s"
cd "$s" || exit %[1]d
umask 022
jobs=$(nproc 2>/dev/null) || jobs=1
DESTDIR=$w/dest PINERY_ARCH=$arch JOBS=$jobs sh -e "$w/build.sh"
rc=$?
if [ "$rc" != 0 ]; then say "the script failed with exit status $rc"; exit %[1]d; fi
cd / && mv -- "$w/dest" "$d/dest" && rm -rf -- "$w" || exit 1
printf '%%s' %[2]s >"$d/.key.tmp" && sync -- "$d/.key.tmp" && mv -f -- "$d/.key.tmp" "$d/key" && sync -- "$d" || exit 1
say "done; DESTDIR kept in $d/dest"
`, exitScript, q(in.String()))
	return s.String()
}

// fetchLog copies the end of build.log to the controller (with sensitive
// values blanked out) and returns it.
func (b *Build) fetchLog(ctx context.Context, h resource.Runner, arch string) ([]byte, error) {
	res, err := h.Run(ctx, fmt.Sprintf("tail -c %d -- %s", maxLogCopy, shellescape.Quote(b.hostDir+"/build.log")), nil)
	if err == nil {
		err = res.Err("reading build.log")
	}
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", b.name, err)
	}
	log := []byte(b.redact(string(res.Stdout)))
	if err := writeAtomic(b.logPath(arch), 0o644, bytes.NewReader(log)); err != nil {
		return log, fmt.Errorf("build %s: keeping the log: %w", b.name, err)
	}
	return log, nil
}

// failure explains a failed build with the end of its log.
func (b *Build) failure(res resource.Result, arch string, log []byte, logErr error) error {
	what := map[int]string{
		exitChanged: "the builder changed since the plan; plan again",
		exitSource:  "fetching or unpacking the source failed",
		exitDepends: "installing build_depends failed",
		exitScript:  "the script failed",
	}[res.ExitCode]
	if what == "" {
		what = fmt.Sprintf("the build failed with exit status %d", res.ExitCode)
		if msg := strings.TrimSpace(b.redact(string(res.Stderr))); msg != "" {
			what += ": " + msg
		}
	}
	hostLog := b.hostDir + "/build.log"
	switch {
	case logErr != nil:
		return fmt.Errorf("build %s on %s: %s; its log is %s on the builder (%v)", b.name, arch, what, hostLog, logErr)
	case b.sensitive["script"]:
		return fmt.Errorf("build %s on %s: %s; its log (not shown: the script is sensitive) is %s on the builder and %s here", b.name, arch, what, hostLog, b.logPath(arch))
	}
	return fmt.Errorf("build %s on %s: %s; the last lines of %s on the builder (all of it is in %s):\n%s",
		b.name, arch, what, hostLog, b.logPath(arch), tail(string(log), tailLines))
}

// tail returns the last n lines of s, indented.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// run runs a script that prints nothing when it succeeds.
func (b *Build) run(ctx context.Context, h resource.Runner, what, script string, stdin io.Reader) error {
	res, err := h.Run(ctx, script, stdin)
	if err == nil {
		err = res.Err(what)
	}
	if err != nil {
		return fmt.Errorf("build %s: %s", b.name, b.redact(err.Error()))
	}
	return nil
}
