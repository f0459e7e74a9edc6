package systemdunit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// ApplyAll writes and removes the files of every given unit in one session,
// their contents streamed one after another on stdin, then runs one
// daemon-reload for all of them, then checks that systemd could load each
// unit written. A file that fails fails alone.
func (u *Unit) ApplyAll(ctx context.Context, h resource.Runner, rs []resource.Resource, ds []*resource.Diff) error {
	errs := make(resource.Errors, len(rs))
	units := make([]*Unit, len(rs))
	privs := make([]*Private, len(rs))
	var script strings.Builder
	var stdin []io.Reader
	var todo []int
	for i, r := range rs {
		x, ok := r.(*Unit)
		if !ok {
			return fmt.Errorf("systemd_unit: ApplyAll given a %T", r)
		}
		units[i] = x
		if ds[i].Empty() {
			continue
		}
		priv, ok := ds[i].Private.(*Private)
		if !ok {
			errs[i] = fmt.Errorf("%s: the plan carries no systemd_unit changes (was it made by this version of pinery?)", x.path)
			continue
		}
		privs[i] = priv
		todo = append(todo, i)
		if !priv.Write && !priv.Delete {
			continue
		}
		if priv.Write {
			stdin = append(stdin, bytes.NewReader(x.content))
		}
		// stderr joins stdout so that each file's messages come before its
		// status line.
		fmt.Fprintf(&script, "(\n%s) 2>&1\necho \"--pinery-unit %d $?\"\n", x.fileScript(priv), i)
	}
	if len(todo) == 0 {
		return nilIfNone(errs)
	}
	// One reload for all, even when a write failed: the others need it.
	script.WriteString("systemctl daemon-reload 2>&1\necho \"--pinery-reload $?\"\n")
	for _, i := range todo {
		if privs[i].Write && !strings.Contains(units[i].unit, "@.") {
			script.WriteString(units[i].loadCheck(i))
		}
	}

	res, err := h.Run(ctx, script.String(), io.MultiReader(stdin...))
	if err != nil {
		return err
	}
	done := map[int]bool{}
	var msgs []byte
	reloaded, reloadErr := false, error(nil)
	bad := -1 // the unit whose journal lines msgs collects
	flushBad := func() {
		if bad >= 0 && errs[bad] == nil {
			errs[bad] = fmt.Errorf("%s: written, but systemd cannot load %s (%s); fix the content and apply again%s",
				units[bad].path, units[bad].unit, badState(msgs), journal(msgs))
		}
		bad, msgs = -1, nil
	}
	for _, line := range bytes.SplitAfter(res.Stdout, []byte("\n")) {
		s := strings.TrimSuffix(string(line), "\n")
		var i, rc int
		var state string
		switch {
		case strings.HasPrefix(s, "--pinery-unit "):
			if _, err := fmt.Sscanf(s, "--pinery-unit %d %d", &i, &rc); err != nil || i < 0 || i >= len(rs) || privs[i] == nil {
				return fmt.Errorf("systemd_unit: malformed status line %q", s)
			}
			errs[i] = units[i].fileError(privs[i], resource.Result{Stderr: msgs, ExitCode: rc})
			done[i], msgs = true, nil
		case strings.HasPrefix(s, "--pinery-reload "):
			if _, err := fmt.Sscanf(s, "--pinery-reload %d", &rc); err != nil {
				return fmt.Errorf("systemd_unit: malformed status line %q", s)
			}
			reloaded = true
			reloadErr = resource.Result{Stderr: msgs, ExitCode: rc}.Err("systemctl daemon-reload")
			msgs = nil
		case strings.HasPrefix(s, "--pinery-load "):
			flushBad()
			if _, err := fmt.Sscanf(s, "--pinery-load %d %s", &i, &state); err != nil || i < 0 || i >= len(rs) || privs[i] == nil {
				return fmt.Errorf("systemd_unit: malformed load line %q", s)
			}
			bad, msgs = i, []byte("LoadState="+state+"\n")
		default:
			msgs = append(msgs, line...)
		}
	}
	flushBad()
	for _, i := range todo {
		switch {
		case errs[i] != nil:
		case (privs[i].Write || privs[i].Delete) && !done[i]:
			errs[i] = resource.Result{Stderr: append(msgs, res.Stderr...), ExitCode: max(res.ExitCode, 1)}.Err(fmt.Sprintf("%s: the script ended before it", units[i].path))
		case !reloaded:
			errs[i] = resource.Result{Stderr: append(msgs, res.Stderr...), ExitCode: max(res.ExitCode, 1)}.Err(fmt.Sprintf("%s: the script ended before the daemon-reload", units[i].path))
		case reloadErr != nil:
			errs[i] = fmt.Errorf("%s: the file is in place but %w; the next plan shows the reload again", units[i].path, reloadErr)
		}
	}
	return nilIfNone(errs)
}

// fileScript writes (atomically, as modules/file does) or removes the file.
// The content is one of several on stdin: the script reads exactly its own
// bytes, and skips them when it fails before reading, so that the next
// file gets its own.
func (u *Unit) fileScript(priv *Private) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nd=%s\n", shellescape.Quote(u.path), shellescape.Quote(u.dir))
	if priv.Delete {
		b.WriteString("rm -f -- \"$p\" || exit 1\n")
		if u.dropin != "" {
			b.WriteString("rmdir -- \"$d\" 2>/dev/null || :\n")
		}
		return b.String()
	}
	read := fmt.Sprintf("head -c %d", len(u.content))
	skip := read + " >/dev/null; "
	if u.dropin != "" {
		fmt.Fprintf(&b, "umask 022\n[ -d \"$d\" ] || mkdir -p -- \"$d\" || { %sexit 1; }\n", skip)
	} else {
		fmt.Fprintf(&b, "[ -d \"$d\" ] || { %sexit 3; }\n", skip)
	}
	fmt.Fprintf(&b, `umask 077
t=$(mktemp -- "$d/.pinery-XXXXXXXXXX") || { %sexit 1; }
trap 'rm -f -- "$t"' EXIT
trap 'exit 1' HUP INT TERM
%s >"$t" || exit 1
h=$(sha256sum <"$t") || exit 1
[ "${h%%%% *}" = %s ] || exit 4
chmod 0644 "$t" || exit 1
sync -- "$t" || exit 1
mv -f -T -- "$t" "$p" || exit 1
trap - EXIT
sync -- "$d" 2>/dev/null || :
`, skip, read, u.sum)
	return b.String()
}

func (u *Unit) fileError(priv *Private, res resource.Result) error {
	if priv.Delete {
		return res.Err(fmt.Sprintf("removing %s", u.path))
	}
	switch res.ExitCode {
	case 3:
		return fmt.Errorf("cannot write %s: %s does not exist; is systemd installed?", u.path, u.dir)
	case 4:
		return fmt.Errorf("writing %s: the content arrived incomplete (checksum mismatch); the file was not changed", u.path)
	}
	return res.Err(fmt.Sprintf("writing %s", u.path))
}

// loadCheck prints "--pinery-load INDEX STATE" and systemd's last log lines
// about the unit when systemd, after the reload, refuses to load it.
func (u *Unit) loadCheck(i int) string {
	q := shellescape.Quote(u.unit)
	return fmt.Sprintf(`s=$(systemctl show -p LoadState --value -- %s 2>/dev/null)
case $s in bad-setting|error) echo "--pinery-load %d $s"; journalctl -b -u %s -n 10 --no-pager -q -o cat 2>/dev/null;; esac
`, q, i, q)
}

func badState(msgs []byte) string {
	l, _, _ := strings.Cut(string(msgs), "\n")
	return l
}

// journal is the log lines after the LoadState line, indented.
func journal(msgs []byte) string {
	_, rest, _ := strings.Cut(string(msgs), "\n")
	rest = strings.TrimRight(rest, "\n")
	if rest == "" {
		return ""
	}
	return "\nlast log lines of the unit:\n  " + strings.ReplaceAll(rest, "\n", "\n  ")
}

func nilIfNone(errs resource.Errors) error {
	for _, err := range errs {
		if err != nil {
			return errs
		}
	}
	return nil
}
