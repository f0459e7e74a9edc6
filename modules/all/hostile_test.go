// Tests that every module that builds shell commands takes hostile values
// (quotes, $(), backticks, globs, line breaks, leading dashes, non-UTF-8
// bytes, very long values) exactly as given or refuses them clearly, on
// real hosts, and that no value ever runs as a command there.
package all_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/engine/transport/fleettest"
	_ "github.com/pinery/pinery/modules/all"
)

// canary starts every file a value would create if a shell interpreted it.
const canary = "/tmp/pinery-pwned-"

type hostile struct{ name, s string }

// hostileValues are the values every field is tried with.
func hostileValues() []hostile {
	return []hostile{
		{"plain", "plain"},
		{"space", "with space"},
		{"leading space", " lead"},
		{"trailing space", "trail "},
		{"only spaces", "   "},
		{"tab", "a\tb"},
		{"newline", "a\nb"},
		{"trailing newline", "nl\n"},
		{"carriage return", "a\rb"},
		{"single quote", "it's"},
		{"double quote", `say "hi"`},
		{"both quotes", `'"both"'`},
		{"backslash", `back\slash`},
		{"trailing backslash", `trail\`},
		{"backslash n", `a\nb`},
		{"dollar", "$HOME"},
		{"braces", "${HOME}"},
		{"arithmetic", "$((6*7))"},
		{"command substitution", "$(touch " + canary + "1)"},
		{"backticks", "`touch " + canary + "2`"},
		{"semicolon", "; touch " + canary + "3"},
		{"background", "& touch " + canary + "4 &"},
		{"pipe", "| touch " + canary + "5"},
		{"and", "&& touch " + canary + "6"},
		{"redirect", "> " + canary + "7"},
		{"subshell", "(touch " + canary + "8)"},
		{"single quote break", "'; touch " + canary + "9; '"},
		{"double quote break", `"; touch ` + canary + `10; "`},
		{"newline command", "x\ntouch " + canary + "11\n"},
		{"no spaces substitution", "$(touch${IFS}" + canary + "12)"},
		{"backtick no spaces", "`touch${IFS}" + canary + "13`"},
		{"heredoc", "<<EOF\ntouch " + canary + "14\nEOF"},
		{"star", "*"},
		{"question mark", "?"},
		{"bracket glob", "[a-z]*"},
		{"brace expansion", "{a,b}"},
		{"tilde", "~root"},
		{"dash options", "-rf"},
		{"double dash", "--help"},
		{"dash", "-"},
		{"plus", "+x"},
		{"hash", "#comment"},
		{"equals", "a=b"},
		{"percent", "100%"},
		{"printf format", "%s%n%d"},
		{"colon", "a:b"},
		{"comma", "a,b"},
		{"exclamation", "!important"},
		{"unbalanced", "$("},
		{"non-UTF-8", "\xff\xfe"},
		{"latin-1", "caf\xe9"},
		{"UTF-8", "café ☕"},
		{"zero-width space", "a\u200bb"},
		{"escape sequence", "\x1b[31mred"},
		{"DEL", "\x7f"},
		{"bell", "\a"},
		{"NUL", "a\x00b"},
		{"empty", ""},
		{"dot", "."},
		{"dot dot", ".."},
		{"slash", "a/b"},
		{"traversal", "../../etc/passwd"},
		{"forged each status", "--pinery-each 0 0"},
		{"forged status line", "x\n--pinery-each 1 0\n"},
		{"forged probe line", "type=none"},
		{"forged probe lines", "\ntype=directory\nempty=1\n"},
		{"300 bytes", strings.Repeat("x", 300)},
		{"5000 bytes", strings.Repeat("y", 5000)},
	}
}

func TestHostileValuesAreEnough(t *testing.T) {
	vs := hostileValues()
	seen := map[string]bool{}
	for _, v := range vs {
		if seen[v.s] || seen[v.name] {
			t.Errorf("duplicate value %q", v.name)
		}
		seen[v.s], seen[v.name] = true, true
	}
	if len(vs) < 50 {
		t.Errorf("%d hostile values, want at least 50", len(vs))
	}
}

// fixture is a fleet host and a scratch directory on it.
type fixture struct {
	h   resource.Runner
	dir string
}

func newFixture(t *testing.T, h resource.Runner) *fixture {
	var b [6]byte
	_, _ = rand.Read(b[:])
	f := &fixture{h: h, dir: "/tmp/pinery-hostile-" + hex.EncodeToString(b[:])}
	mustRun(t, h, "rm -rf -- "+canary+"* && mkdir -m 0755 -- "+f.dir)
	t.Cleanup(func() { _, _ = run(h, "rm -rf -- "+q(f.dir)) })
	return f
}

// path is a path in the scratch directory.
func (f *fixture) path(elem ...string) string { return f.dir + "/" + strings.Join(elem, "/") }

// canaries lists the files hostile values made on the host by running.
func (f *fixture) canaries(t *testing.T) string {
	t.Helper()
	return mustRun(t, f.h, "for f in "+canary+"*; do [ -e \"$f\" ] && echo \"$f\"; done; :")
}

// noCanary fails the test if any value ran as a command on the host.
func (f *fixture) noCanary(t *testing.T) {
	t.Helper()
	if out := f.canaries(t); out != "" {
		t.Errorf("a hostile value ran as a command on the host, which created:\n%s", out)
	}
}

// TestFleetHostileInput drives every module that builds commands with every
// hostile value, in each field that reaches a shell, on h1 and h2.
func TestFleetHostileInput(t *testing.T) {
	fleettest.Lock(t)
	h1, h2 := newFixture(t, dial(t, "h1")), newFixture(t, dial(t, "h2"))
	// The canary is seen when there is one.
	mustRun(t, h1.h, "touch "+canary+"selftest")
	if out := h1.canaries(t); out != canary+"selftest\n" {
		t.Fatalf("the canary check does not see %sselftest: %q", canary, out)
	}
	mustRun(t, h1.h, "rm -f "+canary+"selftest")
	for _, m := range []struct {
		name string
		f    *fixture
		run  func(*testing.T, *fixture)
	}{
		{"file", h1, hostileFile},
		{"directory", h1, hostileDirectory},
		{"symlink", h1, hostileSymlink},
		{"line", h1, hostileLine},
		{"exec", h1, hostileExec},
		{"archive", h1, hostileArchive},
		{"mount", h1, hostileMount},
		{"sysctl", h1, hostileSysctl},
		{"cron", h1, hostileCron},
		{"group and user", h2, hostileAccounts},
		{"systemd_unit and service", h2, hostileUnits},
		{"package", h2, hostilePackage},
		{"git", h2, hostileGit},
	} {
		t.Run(m.name, func(t *testing.T) { m.run(t, m.f) })
	}
	h1.noCanary(t)
	h2.noCanary(t)
}

// dial connects to a fleet host; the caller holds the fleet lock
// (fleettest.Dial takes it once per host, and would wait on itself).
func dial(t *testing.T, name string) transport.Host {
	t.Helper()
	h := fleettest.Host(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := transport.DialSSH(ctx, transport.SSHConfig{Address: h.Address, Port: h.Port, User: h.User,
		IdentityFile: h.IdentityFile, KnownHosts: h.KnownHosts, ConnectTimeout: h.ConnectTimeout})
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// each builds one case per hostile value.
func each(build func(i int, v hostile) *hcase) []*hcase {
	var cs []*hcase
	for i, v := range hostileValues() {
		if c := build(i, v); c != nil {
			c.value = v
			cs = append(cs, c)
		}
	}
	return cs
}
