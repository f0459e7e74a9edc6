package aptsource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// Exit statuses of the apply script.
const (
	exitIncomplete = 4 // the key arrived damaged
	exitNoApt      = 7 // apt-get is not installed
	exitUnreadable = 8 // apt cannot read its sources with the change
	exitRefused    = 9 // apt-get update failed for the source
)

// Apply writes and removes the files as planned, then has apt read the
// sources and, when planned, refresh this source's lists. If apt refuses,
// every file is put back as it was.
func (s *Source) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("apt_source %s: the plan carries no apt_source changes", s.name)
	}
	var stdin io.Reader
	if s.key != nil && contains(priv.Write, s.key.ext) {
		stdin = bytes.NewReader(s.key.data)
	}
	res, err := h.Run(ctx, s.applyScript(priv), stdin)
	if err != nil {
		return err
	}
	out := string(res.Stdout)
	switch res.ExitCode {
	case 0:
		return nil
	case exitIncomplete:
		return fmt.Errorf("writing %s: the key arrived incomplete (checksum mismatch); nothing was changed", s.keyPath(s.key.ext))
	case exitNoApt:
		return fmt.Errorf("apt-get is not installed on the host: apt_source needs apt; the change was undone")
	case exitUnreadable:
		return fmt.Errorf("apt cannot read its sources with %s as planned, so the change was undone:\n  %s", s.sourcesPath(), strings.Join(aptReasons(out), "\n  "))
	case exitRefused:
		return updateError(s.sourcesPath(), out)
	}
	return res.Err("apt_source " + s.name)
}

// updateCmd refreshes the lists of this source only, leaving the lists of
// the other sources in place. Error-Mode=any makes apt exit non-zero on
// index files it could not fetch (older apt ignores the option; the output
// is checked anyway).
func updateCmd(path string) string {
	return "LC_ALL=C apt-get -q -o Dir::Etc::sourcelist=" + shellescape.Quote(path) +
		" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 -o APT::Update::Error-Mode=any update"
}

// applyScript stages the new files beside their targets (key first), keeps
// a copy of every file it replaces or removes, renames, and then lets apt
// judge; any failure after the first rename puts the copies back.
func (s *Source) applyScript(priv *Private) string {
	var b strings.Builder
	b.WriteString(`umask 022
tmps=; undo=
trap 'rm -f -- $tmps' EXIT
trap 'fail 1' HUP INT TERM
fail() { eval "$undo"; exit "$1"; }
save() {
  if [ -f "$1" ]; then
    b=$(mktemp -- "${1%/*}/.pinery-XXXXXXXXXX") || fail 1
    tmps="$tmps $b"
    cp -p -- "$1" "$b" || fail 1
    undo="mv -f -T -- $b $1; $undo"
  else
    undo="rm -f -- $1; $undo"
  fi
}
finish() { chown 0:0 -- "$1" && chmod 0644 -- "$1" && sync -- "$1" || exit 1; }
`)
	// Paths hold only [A-Za-z0-9_.-/] (New checks the name), so the
	// unquoted lists above are safe; quoting below is for good measure.
	for _, l := range priv.Write {
		dir := keyringDir
		if l == "sources" {
			dir = sourcesDir
		}
		fmt.Fprintf(&b, "[ -d %[1]s ] || mkdir -p -m 0755 -- %[1]s || exit 1\n", dir)
		fmt.Fprintf(&b, "t_%[1]s=$(mktemp -- %[2]s/.pinery-XXXXXXXXXX) || exit 1\ntmps=\"$tmps $t_%[1]s\"\n", l, dir)
		if l == "sources" {
			fmt.Fprintf(&b, "printf '%%s' %s >\"$t_sources\" || exit 1\n", shellescape.Quote(string(s.content)))
		} else {
			fmt.Fprintf(&b, "cat >\"$t_%[1]s\" || exit 1\nh=$(sha256sum <\"$t_%[1]s\") || exit 1\n[ \"${h%%%% *}\" = %[2]s ] || exit %[3]d\n", l, s.key.sum, exitIncomplete)
		}
		fmt.Fprintf(&b, "finish \"$t_%s\"\n", l)
	}
	if !s.absent { // a removal is not checked by apt, so never undone
		for _, l := range append(append([]string(nil), priv.Write...), priv.Remove...) {
			fmt.Fprintf(&b, "save %s\n", shellescape.Quote(s.path(l)))
		}
	}
	// The key is in place before the file that names it, and an old key
	// goes only once the file no longer names it.
	for _, l := range []string{"asc", "gpg", "sources"} {
		if contains(priv.Write, l) {
			fmt.Fprintf(&b, "mv -f -T -- \"$t_%s\" %s || fail 1\n", l, shellescape.Quote(s.path(l)))
		}
	}
	for _, l := range priv.Remove {
		fmt.Fprintf(&b, "rm -f -- %s || fail 1\n", shellescape.Quote(s.path(l)))
	}
	fmt.Fprintf(&b, "sync -- %s %s 2>/dev/null || :\n", sourcesDir, keyringDir)
	if !s.absent {
		b.WriteString(s.aptScript(priv))
	}
	return b.String()
}

// aptScript has apt read the sources and, when planned, refresh this
// source's lists; it fails (undoing the change) when apt refuses.
func (s *Source) aptScript(priv *Private) string {
	var b strings.Builder
	// apt-get indextargets reads every source without fetching anything:
	// it catches a source that conflicts with another file (the same
	// repository with another Signed-By), which would break every apt run.
	noApt := ":"
	if priv.Update {
		noApt = fmt.Sprintf("fail %d", exitNoApt)
	}
	fmt.Fprintf(&b, `if command -v apt-get >/dev/null 2>&1; then
  e=$(LC_ALL=C apt-get indextargets 2>&1 >/dev/null) || { printf '%%s\n' "$e"; fail %[1]d; }
  case $e in *E:*) printf '%%s\n' "$e"; fail %[1]d;; esac
else
  %[2]s
fi
`, exitUnreadable, noApt)
	if !priv.Update {
		return b.String()
	}
	// The lists directory keeps its time: package installs compare it
	// with the sources to decide on a full apt-get update, and this one
	// refreshed a single source.
	fmt.Fprintf(&b, `m=$(stat -c %%y -- %[1]s 2>/dev/null)
n=0
while :; do
  out=$(%[2]s 2>&1); rc=$?
  case $out in *'Could not get lock'*) [ $n -lt 12 ] || break; n=$((n+1)); sleep 5;; *) break;; esac
done
[ -z "$m" ] || touch -c -d "$m" -- %[1]s 2>/dev/null
printf '%%s\n' "$out"
if [ $rc -ne 0 ] || printf '%%s\n' "$out" | grep -Eq -e %[3]s; then fail %[4]d; fi
`, listsDir, updateCmd(s.sourcesPath()), shellescape.Quote(failPattern), exitRefused)
	return b.String()
}
