package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

func cfg(kv map[string]cty.Value) resource.Config {
	t, _ := resource.Lookup("service")
	c := resource.Config{Name: "t", Values: map[string]cty.Value{}, Sensitive: map[string]bool{}}
	for _, f := range t.Fields {
		v := cty.NullVal(f.Type)
		if f.Default != cty.NilVal {
			v = f.Default
		}
		c.Values[f.Name] = v
	}
	for k, v := range kv {
		c.Values[k] = v
	}
	return c
}

func mustNew(t *testing.T, kv map[string]cty.Value) *Service {
	t.Helper()
	r, err := New(cfg(kv))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Service)
}

// probe runs the snippet as the engine does and plans.
func probe(t *testing.T, r resource.Resource) (*resource.Diff, error) {
	t.Helper()
	res, err := transport.NewLocal().Run(context.Background(), "LC_ALL=C; export LC_ALL\n(\n"+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote to stderr: %s", res.Stderr)
	}
	return r.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
}

// fakeSystemd is a fake systemctl and journalctl on PATH, keeping unit
// states as files under dir:
//
//	units/U       the unit is loaded (pending/U: written, needs daemon-reload)
//	active/U      it runs
//	enabled/U     it is enabled (static/U: it is static)
//	failstart/U   starting it fails
//	log           one line per systemctl call
type fakeSystemd struct{ dir string }

const fakeSystemctl = `#!/bin/sh
d="$FAKE_SD"
printf '%s\n' "$*" >>"$d/log"
props=; verb=; now=; unit=
while [ $# -gt 0 ]; do
	case $1 in
	-p) props="$props $2"; shift 2; continue;;
	--now) now=1;;
	--) shift; unit=$1; break;;
	-*) ;;
	*) if [ -z "$verb" ]; then verb=$1; else unit=$1; fi;;
	esac
	shift
done
start() {
	[ -e "$d/units/$unit" ] || { echo "Failed to start $unit: Unit $unit not found." >&2; exit 5; }
	if [ -e "$d/failstart/$unit" ]; then
		echo "Job for $unit failed because the control process exited with error code." >&2
		echo "See \"systemctl status $unit\" and \"journalctl -xeu $unit\" for details." >&2
		exit 1
	fi
	touch "$d/active/$unit"
}
case $verb in
show)
	for p in $props; do
		case $p in
		LoadState) if [ -e "$d/units/$unit" ]; then echo LoadState=loaded; else echo LoadState=not-found; fi;;
		ActiveState) if [ -e "$d/active/$unit" ]; then echo ActiveState=active; else echo ActiveState=inactive; fi;;
		SubState) if [ -e "$d/active/$unit" ]; then echo SubState=running; else echo SubState=dead; fi;;
		UnitFileState)
			if [ ! -e "$d/units/$unit" ]; then echo UnitFileState=
			elif [ -e "$d/static/$unit" ]; then echo UnitFileState=static
			elif [ -e "$d/enabled/$unit" ]; then echo UnitFileState=enabled
			else echo UnitFileState=disabled; fi;;
		NeedDaemonReload) if [ -e "$d/pending/$unit" ]; then echo NeedDaemonReload=yes; else echo NeedDaemonReload=no; fi;;
		esac
	done;;
daemon-reload) for f in "$d"/pending/*; do [ -e "$f" ] && mv "$f" "$d/units/"; done; :;;
start) start;;
stop) rm -f "$d/active/$unit";;
enable) [ -e "$d/units/$unit" ] || { echo "Failed to enable unit: Unit file $unit does not exist." >&2; exit 1; }
	touch "$d/enabled/$unit"; [ -z "$now" ] || start;;
disable) rm -f "$d/enabled/$unit"; [ -z "$now" ] || rm -f "$d/active/$unit";;
restart|reload-or-restart) start;;
try-restart|try-reload-or-restart) [ ! -e "$d/active/$unit" ] || start;;
*) echo "fake systemctl: unknown verb $verb" >&2; exit 1;;
esac
`

const fakeJournalctl = `#!/bin/sh
printf '%s\n' "$*" >>"$FAKE_SD/log"
echo "nginx[123]: [emerg] unknown directive \"servr\" in /etc/nginx/sites-enabled/default:3"
echo "systemd[1]: nginx.service: Failed with result 'exit-code'."
`

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{"bin", "units", "active", "enabled", "static", "failstart", "pending"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"systemctl": fakeSystemctl, "journalctl": fakeJournalctl} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FAKE_SD", dir)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	return &fakeSystemd{dir}
}

// set creates or removes the marker files for a unit.
func (f *fakeSystemd) set(t *testing.T, unit string, on bool, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		p := filepath.Join(f.dir, k, unit)
		var err error
		if on {
			err = os.WriteFile(p, nil, 0o644)
		} else {
			err = os.Remove(p)
		}
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

func (f *fakeSystemd) has(unit, kind string) bool {
	_, err := os.Stat(filepath.Join(f.dir, kind, unit))
	return err == nil
}

// calls returns the systemctl/journalctl calls other than show, and resets
// the log.
func (f *fakeSystemd) calls(t *testing.T) []string {
	t.Helper()
	p := filepath.Join(f.dir, "log")
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	_ = os.Remove(p)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" && !strings.HasPrefix(l, "show ") {
			out = append(out, l)
		}
	}
	return out
}
