package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// A host is locked while an apply changes it, so that two applies (two
// people, two CI jobs) never interleave on one board. The lock lives on the
// host: a directory created atomically, holding who took it, when, and until
// when it is valid, in case its holder died without releasing it.
const (
	lockDir = "/var/lib/pinery/lock"
	// LockTTL bounds how long a lock of a dead run blocks others.
	LockTTL = 2 * time.Hour
)

// ErrLocked is the class of the error for a host locked by another run.
var ErrLocked = fmt.Errorf("locked by another run")

// runID names this process's runs in the locks they hold.
var runID = func() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

func holder() string {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	now := time.Now().UTC()
	return fmt.Sprintf("run=%s\nholder=%s@%s pid %d\nsince=%s\nexpires=%s\nexpires_epoch=%d\n",
		runID, who, host, os.Getpid(), now.Format(time.RFC3339), now.Add(LockTTL).Format(time.RFC3339), now.Add(LockTTL).Unix())
}

// lockedExit and lockedMark tell a refused lock from the script it
// precedes.
const (
	lockedExit = 97
	lockedMark = "--pinery-locked--"
)

// lockScript takes the host's lock, or prints who holds it after
// lockedMark and exits lockedExit. The holder is written first and the lock
// appears with it, by one rename: whoever sees the lock can read whose it
// is. An expired lock is taken over.
func lockScript() string {
	return `_pinery_lock() {
run=` + runID + `
d=` + lockDir + `
umask 022; mkdir -p "${d%/*}" || return 1
t=$(mktemp -d "${d%/*}/.lock-XXXXXXXXXX") || return 1
printf '%s' ` + shellescape.Quote(holder()) + ` >"$t/holder" || { rm -rf "$t"; return 1; }
for try in 1 2 3 4 5; do
  if mv -T "$t" "$d" 2>/dev/null; then return 0; fi
  if ! h=$(cat "$d/holder" 2>/dev/null); then
    sleep 0.2; continue # being released right now
  fi
  # Two inventory hosts of this run on one machine share its lock.
  case "$h" in *"run=$run"*) rm -rf "$t"; return 0 ;; esac
  exp=$(printf '%s\n' "$h" | sed -n 's/^expires_epoch=//p')
  if [ -n "$exp" ] && [ "$(date +%s)" -gt "$exp" ]; then
    rm -rf "$d"; continue
  fi
  rm -rf "$t"
  printf '%s\n%s\n' ` + lockedMark + ` "$h"
  return ` + fmt.Sprint(lockedExit) + `
done
rm -rf "$t"
printf '%s\n' ` + lockedMark + `
return ` + fmt.Sprint(lockedExit) + `
}
_pinery_lock || exit $?
`
}

// lockingRunner takes the host's lock in the first command an apply runs
// on it, ahead of that command's own script, so that a changed host pays no
// extra round trip for it. Once refused, it runs nothing more.
type lockingRunner struct {
	conn    transport.Host
	locked  bool
	lockErr error
	retried bool // a dead local holder's lock was released once
}

func (l *lockingRunner) Run(ctx context.Context, cmd string, stdin io.Reader) (resource.Result, error) {
	if l.lockErr != nil {
		return resource.Result{}, l.lockErr
	}
	if l.locked {
		return l.conn.Run(ctx, cmd, stdin)
	}
	// What the refused attempt read of stdin is kept, for a retry.
	var consumed bytes.Buffer
	in := stdin
	if stdin != nil {
		in = io.TeeReader(stdin, &consumed)
	}
	res, err := l.conn.Run(ctx, lockScript()+cmd, in)
	if err != nil {
		l.locked = true // perhaps taken: unlock only ever removes this run's lock
		return res, err
	}
	if res.ExitCode == lockedExit && strings.HasPrefix(string(res.Stdout), lockedMark+"\n") && !l.retried {
		// A lock left by a dead run of this machine (it lost the host
		// mid-apply: a reboot, a cut link) is released, once.
		if run, ok := deadLocalHolder(strings.TrimPrefix(string(res.Stdout), lockedMark+"\n")); ok {
			l.retried = true
			if r, err := l.conn.Run(ctx, releaseScript(run), nil); err == nil && r.ExitCode == 0 {
				if stdin != nil {
					stdin = io.MultiReader(&consumed, stdin)
				}
				return l.Run(ctx, cmd, stdin)
			}
		}
	}
	if res.ExitCode == lockedExit && strings.HasPrefix(string(res.Stdout), lockedMark+"\n") {
		l.lockErr = fmt.Errorf("%w: %s; wait for it, or break it with `pinery unlock` if that run is dead",
			ErrLocked, describeHolder(strings.TrimPrefix(string(res.Stdout), lockedMark+"\n")))
		return resource.Result{}, l.lockErr
	}
	l.locked = true
	return res, nil
}

// unlock releases the lock if this run holds it.
func unlock(ctx context.Context, conn transport.Host) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	res, err := conn.Run(ctx, releaseScript(runID), nil)
	if err != nil {
		return fmt.Errorf("releasing the host's lock: %w", err)
	}
	return res.Err("releasing the host's lock")
}

// releaseScript removes the host's lock if run holds it. The lock is moved
// aside first: several inventory hosts of one run on one machine share its
// lock, and release it at the same time.
func releaseScript(run string) string {
	return fmt.Sprintf("if grep -qx %s %s/holder 2>/dev/null; then t=%s.released.$$; mv -T %s \"$t\" 2>/dev/null && rm -rf \"$t\"; fi; true",
		shellescape.Quote("run="+run), lockDir, lockDir, lockDir)
}

// Unlock breaks a host's lock, whoever holds it, and says whose it was
// ("" when the host was not locked).
func Unlock(ctx context.Context, conn transport.Host) (string, error) {
	res, err := conn.Run(ctx, fmt.Sprintf("cat %s/holder 2>/dev/null; rm -rf %s", lockDir, lockDir), nil)
	if err != nil {
		return "", err
	}
	if err := res.Err("breaking the lock"); err != nil {
		return "", err
	}
	if len(res.Stdout) == 0 {
		return "", nil
	}
	return describeHolder(string(res.Stdout)), nil
}

// deadLocalHolder reports the run id of a lock held by a process of this
// machine that no longer exists: its run ended without releasing the lock
// (it lost the host). A holder on another machine is never judged.
func deadLocalHolder(s string) (string, bool) {
	f := parseHolder(s)
	// holder=USER@MACHINE pid PID
	who, pid, ok := strings.Cut(f["holder"], " pid ")
	_, machine, ok2 := strings.Cut(who, "@")
	n, err := strconv.Atoi(pid)
	me, _ := os.Hostname()
	if !ok || !ok2 || err != nil || n <= 0 || machine != me || f["run"] == "" || f["run"] == runID {
		return "", false
	}
	if err := syscall.Kill(n, 0); err == nil || errors.Is(err, syscall.EPERM) {
		return "", false // alive
	}
	return f["run"], true
}

// parseHolder reads a lock's holder file: key=value lines.
func parseHolder(s string) map[string]string {
	f := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			f[k] = v
		}
	}
	return f
}

func describeHolder(s string) string {
	f := parseHolder(s)
	if f["holder"] == "" {
		return "holder unknown (" + lockDir + " exists)"
	}
	return fmt.Sprintf("%s since %s (expires %s)", f["holder"], f["since"], f["expires"])
}
