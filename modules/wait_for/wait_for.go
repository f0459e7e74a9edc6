// Package waitfor is the "wait_for" resource type: wait until a TCP port is
// open, a URL answers with a status, or a command succeeds on the target.
package waitfor

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const doc = `Waits until something is ready on the target, like Ansible's ` + "`wait_for`" + ` and
Salt's ` + "`http.wait_for_successful_query`" + `. Set exactly one of:

- ` + "`port`" + `: a TCP port on ` + "`host`" + ` (default 127.0.0.1, seen from the target) accepts
  connections;
- ` + "`url`" + `: an HTTP or HTTPS URL answers with ` + "`status`" + ` (default 200);
- ` + "`command`" + `: a command exits 0.

**Planning.** The probe checks once (each check is limited to 5 s, or ` + "`timeout`" + ` when
shorter). Ready: the plan shows nothing. Not ready: the plan shows ` + "`!`" + ` with what it
saw ("port 8080 on 127.0.0.1 not open yet"); the apply will wait. That is expected when
the service that opens the port is started by the same apply: put the ` + "`wait_for`" + ` after
it with ` + "`depends_on`" + `, and make it a ` + "`prereq`" + ` of what needs the service. A ` + "`command`" + `
is run while planning, so it must be read-only.

**Applying.** The target polls in one shell session: a check every ` + "`interval`" + `
seconds until one succeeds or ` + "`timeout`" + ` seconds have passed; each check is cut off
(coreutils' ` + "`timeout`" + `) when it would run past the deadline. On timeout the apply fails
with what the last check saw (the status answered, curl's or the command's last line of
error output).

**Refresh.** A ` + "`wait_for`" + ` that ` + "`watch`" + `es a resource waits again when that resource
changed: ` + "`watch = [service.api]`" + ` waits for the port after every restart, even when
the port was open while planning (the old process still answered).

**Requirements on the target.** Ports are checked with bash's ` + "`/dev/tcp`" + ` (bash is an
essential package on Debian, always installed). URLs are fetched with ` + "`curl`" + ` when it
is installed, else ` + "`wget`" + `, else ` + "`python3`" + `'s urllib; a minimal Debian may have none of
curl and wget (the test fleet's boards have only python3): with none of the three the
apply fails saying so, so install ` + "`curl`" + ` with a ` + "`package`" + ` resource first. Redirects are
not followed (a 301 is status 301), and HTTPS certificates are verified.`

const example = `service "api" {
  name  = "render-api"
  state = "running"
}

wait_for "api_port" {
  port       = 8080
  timeout    = 120
  depends_on = [service.api]
  watch      = [service.api]
}

wait_for "api_health" {
  url        = "http://127.0.0.1:8080/healthz"
  status     = 204
  depends_on = [wait_for.api_port]
}

wait_for "postgres" {
  command  = "pg_isready -q -h /run/postgresql"
  interval = 0.5
}`

// probeLimit caps a check run while planning.
const probeLimit = 5

func init() {
	resource.Register(&resource.Type{
		Name:    "wait_for",
		Summary: "Wait until a TCP port is open, a URL answers or a command succeeds on the target.",
		Doc:     doc,
		Example: example,
		Refresh: "wait",
		Fields: []resource.Field{
			{Name: "port", Type: cty.Number,
				Doc: "A TCP port (1-65535) that must accept connections on `host`. One of `port`, `url` or `command` is required."},
			{Name: "host", Type: cty.String, Default: cty.StringVal("127.0.0.1"),
				Doc: "The address or name to connect to for `port`, as seen from the target."},
			{Name: "url", Type: cty.String,
				Doc: "An `http://` or `https://` URL that must answer with `status`, fetched from the target with curl, wget or python3 (see Requirements)."},
			{Name: "status", Type: cty.Number, Default: resource.Num(200),
				Doc: "The HTTP status `url` must answer with (100-599). Redirects are not followed."},
			{Name: "command", Type: cty.String,
				Doc: "A command, run with `sh -c` as root, that must exit 0. Run while planning too: keep it read-only."},
			{Name: "timeout", Type: cty.Number, Default: resource.Num(60),
				Doc: "Whole seconds to wait at apply before failing (at least 1)."},
			{Name: "interval", Type: cty.Number, Default: resource.Num(1),
				Doc: "Seconds between checks; fractions such as 0.5 are allowed (at least 0.1, at most `timeout`)."},
		},
		New: New,
	})
}

// WaitFor is one readiness check on one host.
type WaitFor struct {
	kind     string // "port", "url", "command"
	port     int64
	host     string
	url      string
	status   int64
	command  string
	timeout  int64
	interval string // for sleep(1), e.g. "1", "0.5"
	secret   bool   // the command or URL is sensitive
}

var (
	_ resource.Resource  = (*WaitFor)(nil)
	_ resource.Refresher = (*WaitFor)(nil)
)

// New validates a wait_for block.
func New(cfg resource.Config) (resource.Resource, error) {
	w := &WaitFor{
		host:    cfg.String("host"),
		url:     cfg.String("url"),
		command: cfg.String("command"),
	}
	var set []string
	for _, n := range []string{"port", "url", "command"} {
		if cfg.IsSet(n) {
			set = append(set, n)
		}
	}
	switch len(set) {
	case 0:
		return nil, cfg.Errorf("port", "set exactly one of port, url or command (none is set)")
	case 1:
		w.kind = set[0]
	default:
		return nil, cfg.Errorf(set[1], "set exactly one of port, url or command, not both %s and %s; use two wait_for resources to wait for both", set[0], set[1])
	}
	w.secret = cfg.IsSensitive(w.kind)

	num := func(name string) (float64, bool) {
		v := cfg.Values[name]
		if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
			return 0, false
		}
		f, _ := v.AsBigFloat().Float64()
		return f, true
	}
	whole := func(name string, lo, hi float64, what string) (int64, error) {
		f, _ := num(name)
		if f != math.Trunc(f) || f < lo || f > hi {
			return 0, cfg.Errorf(name, "must be %s, not %s", what, strconv.FormatFloat(f, 'f', -1, 64))
		}
		return int64(f), nil
	}

	var err error
	switch w.kind {
	case "port":
		if w.port, err = whole("port", 1, 65535, "a TCP port number from 1 to 65535"); err != nil {
			return nil, err
		}
		if err := checkHost(w.host); err != nil {
			return nil, cfg.Errorf("host", "%v", err)
		}
	case "url":
		if err := checkURL(w.url); err != nil {
			return nil, cfg.Errorf("url", "%v", err)
		}
		if w.status, err = whole("status", 100, 599, "an HTTP status from 100 to 599, such as 200 or 204"); err != nil {
			return nil, err
		}
	case "command":
		if strings.TrimSpace(w.command) == "" {
			return nil, cfg.Errorf("command", "must not be empty: give a command that exits 0 when ready")
		}
		if strings.ContainsRune(w.command, 0) {
			return nil, cfg.Errorf("command", "contains a NUL byte, which no shell can pass; remove it")
		}
	}
	if w.kind != "port" && cfg.IsSet("host") && w.host != "127.0.0.1" {
		return nil, cfg.Errorf("host", "is only used with port; remove it, or put the host in the url or command")
	}
	if w.kind != "url" && cfg.IsSet("status") && cfg.Int("status") != 200 {
		return nil, cfg.Errorf("status", "is only used with url; remove it")
	}
	if w.timeout, err = whole("timeout", 1, 24*3600, "whole seconds from 1 to 86400, such as 60"); err != nil {
		return nil, err
	}
	iv, _ := num("interval")
	if iv < 0.1 || iv > float64(w.timeout) || math.IsNaN(iv) {
		return nil, cfg.Errorf("interval", "must be from 0.1 seconds to timeout (%d), not %s", w.timeout, strconv.FormatFloat(iv, 'f', -1, 64))
	}
	w.interval = strconv.FormatFloat(math.Round(iv*10)/10, 'f', -1, 64)
	return w, nil
}

// checkHost accepts a host name or an IPv4/IPv6 address, nothing a shell
// or bash's /dev/tcp path could misread.
func checkHost(h string) error {
	if h == "" {
		return fmt.Errorf("must not be empty: give an address such as \"127.0.0.1\" or a host name")
	}
	for _, r := range h {
		if !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) || strings.ContainsRune(".-:_", r)) {
			return fmt.Errorf("%q is not a host name or an IP address: write it without brackets, ports or spaces, such as \"10.0.0.5\" or \"db.internal\"", h)
		}
	}
	if h[0] == '-' {
		return fmt.Errorf("%q must not start with '-'", h)
	}
	return nil
}

func checkURL(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("must not be empty: give a URL such as \"http://127.0.0.1:8080/healthz\"")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == ' ' }) {
		return fmt.Errorf("%q contains spaces or control characters: percent-encode them (%%20)", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL (%v): write it like \"http://127.0.0.1:8080/healthz\"", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q must start with http:// or https://; for other protocols use port or command", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host: write it like \"http://127.0.0.1:8080/healthz\"", s)
	}
	return nil
}

// what names the thing waited for, for messages.
func (w *WaitFor) what() string {
	switch w.kind {
	case "port":
		return fmt.Sprintf("port %d on %s", w.port, w.host)
	case "url":
		if w.secret {
			return "(sensitive url)"
		}
		return w.url
	}
	if w.secret {
		return "(sensitive command)"
	}
	first, _, more := strings.Cut(strings.TrimSpace(w.command), "\n")
	if more || len(first) > 60 {
		return strconv.Quote(truncate(first, 60) + "…")
	}
	return strconv.Quote(first)
}

// check is a shell function "check LIMIT": one attempt, cut off after
// LIMIT seconds, returning 0 when ready and leaving in $seen what it saw.
func (w *WaitFor) check() string {
	var b strings.Builder
	b.WriteString("check() {\n")
	switch w.kind {
	case "port":
		fmt.Fprintf(&b, `  if timeout -k 1 "$1" bash -c 'exec 3<>"/dev/tcp/$1/$2"' wait_for %s %d >/dev/null 2>&1; then return 0; fi
  seen='not open yet'; return 1
`, shellescape.Quote(w.host), w.port)
	case "url":
		fmt.Fprintf(&b, "  u=%s\n", shellescape.Quote(w.url))
		b.WriteString(`  if command -v curl >/dev/null 2>&1; then
    code=$(curl -sS -o /dev/null -w '\n%{http_code}\n' --max-time "$1" -- "$u" 2>&1)
  elif command -v wget >/dev/null 2>&1; then
    code=$(timeout -k 1 "$1" wget -S -O /dev/null -t 1 --max-redirect=0 -- "$u" 2>&1 | awk '/^ *HTTP\/[0-9.]+ [0-9][0-9][0-9]/{c=$2} /^wget: |failed:|ERROR/{e=$0} END{if(c!="")print c; else print e}')
  elif command -v python3 >/dev/null 2>&1; then
    code=$(timeout -k 1 "$1" python3 -c '
import sys, urllib.request, urllib.error
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
try:
    r = urllib.request.build_opener(NoRedirect).open(sys.argv[1], timeout=float(sys.argv[2]))
    print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(getattr(e, "reason", e))
' "$u" "$1" 2>&1)
  else
    seen='cannot be fetched: none of curl, wget or python3 is installed on the target; install curl (a package resource) before this wait_for'; return 2
  fi
  c=$(printf '%s\n' "$code" | grep -E '^[1-5][0-9][0-9]$' | tail -n 1)
  m=$(printf '%s\n' "$code" | grep -vE '^[0-9]{3}$' | sed '/^[[:space:]]*$/d' | tail -n 1)
`)
		fmt.Fprintf(&b, "  [ \"$c\" = %d ] && return 0\n", w.status)
		fmt.Fprintf(&b, "  if [ -n \"$c\" ]; then seen=\"answered $c, not %d\"\n", w.status)
		b.WriteString(`  elif [ -n "$m" ]; then seen="not reachable: $m"
  else seen="not reachable (no answer within $1 s)"; fi
  return 1
`)
	case "command":
		fmt.Fprintf(&b, `  out=$(timeout -k 1 "$1" sh -c %s </dev/null 2>&1); rc=$?
  [ $rc -eq 0 ] && return 0
  out=$(printf '%%s\n' "$out" | sed '/^[[:space:]]*$/d' | tail -n 1)
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then seen="timed out after $1 s"; else seen="exited $rc"; fi
  seen="$seen${out:+: $out}"; return 1
`, shellescape.Quote(w.command))
	}
	b.WriteString("}\n")
	return b.String()
}

// Probe checks once and prints "ready=1", or "ready=0" and "seen=…".
func (w *WaitFor) Probe() string {
	limit := min(w.timeout, probeLimit)
	return w.check() + fmt.Sprintf("if check %d; then echo ready=1; else echo ready=0; printf 'seen=%%s\\n' \"$seen\"; fi\n", limit)
}

// Plan: nothing when ready, a wait otherwise.
func (w *WaitFor) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	s := string(out.Stdout)
	switch {
	case out.ExitCode == 0 && s == "ready=1\n":
		return &resource.Diff{Action: resource.NoOp}, nil
	case out.ExitCode == 0 && strings.HasPrefix(s, "ready=0\nseen="):
		seen := strings.TrimSpace(strings.TrimPrefix(s, "ready=0\nseen="))
		return &resource.Diff{Action: resource.Run, Changes: []resource.Change{w.change(seen)}}, nil
	}
	return nil, fmt.Errorf("wait_for %s: unreadable probe output %q (exit status %d)", w.what(), truncate(s, 200), out.ExitCode)
}

// change is the plan's line: what was seen, what the apply will do.
func (w *WaitFor) change(seen string) resource.Change {
	seen = w.redact(oneLine(seen))
	var reason string
	switch w.kind {
	case "port":
		reason = fmt.Sprintf("port %d on %s %s", w.port, w.host, seen)
	case "url":
		reason = w.what() + " " + seen
	default:
		reason = fmt.Sprintf("command %s", seen)
	}
	return resource.Change{Field: w.kind, Old: reason, New: fmt.Sprintf("wait up to %d s, checking every %s s", w.timeout, w.interval)}
}

// Apply waits on the target.
func (w *WaitFor) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	_, err := w.wait(ctx, h)
	return err
}

// Refresh waits again after a watched resource changed.
func (w *WaitFor) Refresh(ctx context.Context, h resource.Runner) (string, error) {
	waited, err := w.wait(ctx, h)
	if err != nil {
		return "", err
	}
	if waited {
		return "waited", nil
	}
	return "", nil
}

// script is the polling loop: exit 0 ready at once ("ready"), exit 0 after
// waiting ("waited"), exit 3 on timeout or 4 on a missing tool with the
// last "seen=" line.
func (w *WaitFor) script() string {
	return w.check() + fmt.Sprintf(`deadline=$(( $(date +%%s) + %d ))
n=0
while :; do
  left=$(( deadline - $(date +%%s) ))
  [ "$left" -ge 1 ] || left=1
  check "$left"; rc=$?
  if [ $rc -eq 0 ]; then
    if [ $n -eq 0 ]; then echo ready; else echo waited; fi
    exit 0
  fi
  [ $rc -eq 2 ] && { printf 'seen=%%s\n' "$seen"; exit 4; }
  n=$((n + 1))
  [ "$(date +%%s)" -lt "$deadline" ] || { printf 'seen=%%s\n' "$seen"; exit 3; }
  sleep %s
done
`, w.timeout, w.interval)
}

func (w *WaitFor) wait(ctx context.Context, h resource.Runner) (bool, error) {
	res, err := h.Run(ctx, w.script(), nil)
	if err != nil {
		return false, fmt.Errorf("wait_for %s: %w", w.what(), err)
	}
	out := string(res.Stdout)
	seen := ""
	if i := strings.LastIndex(out, "seen="); i >= 0 {
		seen = w.redact(oneLine(out[i+len("seen="):]))
	}
	switch res.ExitCode {
	case 0:
		return strings.TrimSpace(out) == "waited", nil
	case 3:
		return false, fmt.Errorf("wait_for %s: not ready after %d s; last check: %s", w.what(), w.timeout, seen)
	case 4:
		return false, fmt.Errorf("wait_for %s: %s", w.what(), seen)
	}
	return false, res.Err(fmt.Sprintf("wait_for %s", w.what()))
}

// redact hides a sensitive command or URL from what was seen.
func (w *WaitFor) redact(s string) string {
	if w.secret {
		for _, v := range []string{w.url, w.command} {
			if v != "" {
				s = strings.ReplaceAll(s, v, "(sensitive)")
			}
		}
	}
	return s
}

// oneLine joins lines and shortens to a readable message.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = truncate(s, 300) + "…"
	}
	return s
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
