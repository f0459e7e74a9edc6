package exec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

var s = cty.StringVal

func cfg(kv map[string]cty.Value) resource.Config {
	t, _ := resource.Lookup("exec")
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

func mustNew(t *testing.T, kv map[string]cty.Value) *Exec {
	t.Helper()
	r, err := New(cfg(kv))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r.(*Exec)
}

// probe runs the snippet as the engine does, locally, and plans.
func probe(t *testing.T, r resource.Resource) *resource.Diff {
	t.Helper()
	res, err := transport.NewLocal().Run(context.Background(), "LC_ALL=C; export LC_ALL\n(\n"+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote to stderr: %s", res.Stderr)
	}
	d, err := r.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
	if err != nil {
		t.Fatalf("Plan: %v (probe output %q)", err, res.Stdout)
	}
	return d
}

var ctx = context.Background()

// roundTrip: plan says run, apply, plan says nothing.
func roundTrip(t *testing.T, e *Exec) {
	t.Helper()
	d := probe(t, e)
	if d.Action != resource.Run {
		t.Fatalf("first plan = %+v, want a run", d)
	}
	if err := e.Apply(ctx, transport.NewLocal(), d); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if d := probe(t, e); !d.Empty() {
		t.Fatalf("second plan = %+v, want no-op", d)
	}
}

// hostile are names and values that a shell must never interpret.
var hostile = []string{
	"with space",
	`it's "quoted"`,
	"$(touch pwned)",
	"`touch pwned2`",
	"line1\nline2",
	"-n",
	"--help",
	"semi;colon&amp|pipe>redir",
	"* glob ?",
	"tab\there",
	`back\slash\n`,
	"ünïcødé",
}

func noPwned(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		for _, n := range []string{"pwned", "pwned2"} {
			if _, err := os.Stat(filepath.Join(d, n)); err == nil {
				t.Fatalf("a hostile value was interpreted: %s exists", filepath.Join(d, n))
			}
		}
	}
}

func TestNew(t *testing.T) {
	env := func(m map[string]string) cty.Value {
		vs := map[string]cty.Value{}
		for k, v := range m {
			vs[k] = s(v)
		}
		return cty.MapVal(vs)
	}
	tests := []struct {
		name  string
		kv    map[string]cty.Value
		field string
	}{
		{"minimal", map[string]cty.Value{"command": s("true")}, ""},
		{"all", map[string]cty.Value{"command": s("make"), "creates": s("bin/x"), "cwd": s("/srv/app"),
			"unless": s("false"), "onlyif": s("true"), "environment": env(map[string]string{"A_1": "x", "_b": ""}), "timeout": resource.Num(5)}, ""},
		{"empty command", map[string]cty.Value{"command": s("  ")}, "command"},
		{"NUL", map[string]cty.Value{"command": s("echo \x00")}, "command"},
		{"relative cwd", map[string]cty.Value{"command": s("true"), "cwd": s("srv")}, "cwd"},
		{"relative creates without cwd", map[string]cty.Value{"command": s("true"), "creates": s("x")}, "creates"},
		{"empty creates", map[string]cty.Value{"command": s("true"), "creates": s("")}, "creates"},
		{"empty unless", map[string]cty.Value{"command": s("true"), "unless": s("")}, "unless"},
		{"empty onlyif", map[string]cty.Value{"command": s("true"), "onlyif": s(" ")}, "onlyif"},
		{"negative timeout", map[string]cty.Value{"command": s("true"), "timeout": resource.Num(-1)}, "timeout"},
		{"env name with dash", map[string]cty.Value{"command": s("true"), "environment": env(map[string]string{"A-B": "x"})}, "environment"},
		{"env name digit", map[string]cty.Value{"command": s("true"), "environment": env(map[string]string{"1A": "x"})}, "environment"},
		{"env name injection", map[string]cty.Value{"command": s("true"), "environment": env(map[string]string{"A=$(reboot) B": "x"})}, "environment"},
		{"env value NUL", map[string]cty.Value{"command": s("true"), "environment": env(map[string]string{"A": "\x00"})}, "environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(cfg(tt.kv))
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("want error on %q, got %v", tt.field, err)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	cmd := resource.Change{Field: "command", New: "make install"}
	tests := []struct {
		name    string
		kv      map[string]cty.Value
		out     string
		action  resource.Action
		changes []resource.Change
	}{
		{"runs", nil, "skip=\n", resource.Run, []resource.Change{cmd}},
		{"creates", nil, "skip=creates\n", resource.NoOp, nil},
		{"unless", nil, "skip=unless\n", resource.NoOp, nil},
		{"onlyif", nil, "skip=onlyif\n", resource.NoOp, nil},
		{"cwd missing", map[string]cty.Value{"cwd": s("/srv/app")}, "skip=cwd\n", resource.Run,
			[]resource.Change{cmd, {Field: "cwd", New: "/srv/app (missing now: the guards are checked at apply)"}}},
		{"refresh only", map[string]cty.Value{"refresh_only": cty.True}, "", resource.NoOp, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]cty.Value{"command": s("make install")}
			for k, v := range tt.kv {
				kv[k] = v
			}
			d, err := mustNew(t, kv).Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action || !reflect.DeepEqual(d.Changes, tt.changes) {
				t.Fatalf("got %v %+v, want %v %+v", d.Action, d.Changes, tt.action, tt.changes)
			}
		})
	}
	for _, bad := range []string{"", "hello\n", "skip=maybe\n", "skip=\nskip=\n"} {
		if _, err := mustNew(t, map[string]cty.Value{"command": s("x")}).Plan(resource.ProbeResult{Stdout: []byte(bad)}); err == nil {
			t.Errorf("probe output %q: no error", bad)
		}
	}
	t.Run("sensitive command", func(t *testing.T) {
		c := cfg(map[string]cty.Value{"command": s("mysql -psecret")})
		c.Sensitive["command"] = true
		r, _ := New(c)
		d, _ := r.Plan(resource.ProbeResult{Stdout: []byte("skip=\n")})
		if !d.Changes[0].Sensitive {
			t.Fatal("command change not sensitive")
		}
	})
	t.Run("refresh only asks nothing", func(t *testing.T) {
		if p := mustNew(t, map[string]cty.Value{"command": s("x"), "refresh_only": cty.True}).Probe(); p != ":" {
			t.Fatalf("probe = %q", p)
		}
	})
}

func TestCreatesRoundTrip(t *testing.T) {
	for _, name := range hostile {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, name)
			roundTrip(t, mustNew(t, map[string]cty.Value{
				"command":     s(`touch -- "$T"`),
				"creates":     s(target),
				"environment": cty.MapVal(map[string]cty.Value{"T": s(target)}),
			}))
			if _, err := os.Stat(target); err != nil {
				t.Fatal(err)
			}
			noPwned(t, dir, ".")
		})
	}
	t.Run("relative to cwd, leading dash", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "it's a $(dir)")
		must(t, os.Mkdir(dir, 0o755))
		roundTrip(t, mustNew(t, map[string]cty.Value{"command": s("touch ./-made"), "creates": s("-made"), "cwd": s(dir)}))
		if _, err := os.Stat(filepath.Join(dir, "-made")); err != nil {
			t.Fatal(err)
		}
		noPwned(t, dir)
	})
}

func TestUnlessOnlyifRoundTrip(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	e := mustNew(t, map[string]cty.Value{
		"command": s("echo run >> count; touch done"),
		"unless":  s("test -e done"),
		"onlyif":  s("test -e gate"),
		"cwd":     s(dir),
	})
	if d := probe(t, e); !d.Empty() {
		t.Fatalf("onlyif fails: want no-op, got %+v", d)
	}
	must(t, os.WriteFile(filepath.Join(dir, "gate"), nil, 0o644))
	roundTrip(t, e)
	if b, _ := os.ReadFile(count); string(b) != "run\n" {
		t.Fatalf("count = %q", b)
	}
}

func TestCwdAndEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir with 'quotes' and $(x) and `y`")
	must(t, os.Mkdir(dir, 0o755))
	env := map[string]cty.Value{}
	for i, v := range hostile {
		env["V"+strconv.Itoa(i)] = s(v)
	}
	env["EMPTY"] = s("")
	env["EQ"] = s("a=b=c")
	var cmd strings.Builder
	cmd.WriteString("pwd > pwd.out\n")
	for k := range env {
		cmd.WriteString("printf '%s' \"$" + k + "\" > " + k + ".out\n")
	}
	e := mustNew(t, map[string]cty.Value{"command": s(cmd.String()), "cwd": s(dir), "environment": cty.MapVal(env)})
	d := probe(t, e)
	must(t, e.Apply(ctx, transport.NewLocal(), d))
	if b, _ := os.ReadFile(filepath.Join(dir, "pwd.out")); string(b) != dir+"\n" {
		t.Errorf("pwd = %q, want %q", b, dir)
	}
	for k, v := range env {
		b, err := os.ReadFile(filepath.Join(dir, k+".out"))
		if err != nil || string(b) != v.AsString() {
			t.Errorf("%s = %q (%v), want %q", k, b, err, v.AsString())
		}
	}
	noPwned(t, dir, ".")
}

func TestCommandIsNotInterpretedTwice(t *testing.T) {
	dir := t.TempDir()
	e := mustNew(t, map[string]cty.Value{
		"command": s(`printf '%s\n' "it's" '$(id -u)' "a  b" > out; cat`), // cat must see an empty stdin
		"cwd":     s(dir),
	})
	must(t, e.Apply(ctx, transport.NewLocal(), probe(t, e)))
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "it's\n$(id -u)\na  b\n" {
		t.Fatalf("out = %q", b)
	}
}

func TestTimeoutKillsEverything(t *testing.T) {
	dir := t.TempDir()
	e := mustNew(t, map[string]cty.Value{
		"command": s("sleep 30 & echo $! > bg.pid; sleep 30"),
		"cwd":     s(dir),
		"timeout": resource.Num(1),
	})
	start := time.Now()
	err := e.Apply(ctx, transport.NewLocal(), probe(t, e))
	if err == nil || !strings.Contains(err.Error(), "timed out after 1 s and was killed") {
		t.Fatalf("got %v", err)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("took %v", el)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bg.pid"))
	must(t, err)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(3 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("background sleep %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTimeoutAppliesToGuards(t *testing.T) {
	e := mustNew(t, map[string]cty.Value{"command": s("true"), "unless": s("sleep 30"), "timeout": resource.Num(1)})
	start := time.Now()
	if d := probe(t, e); d.Action != resource.Run {
		t.Fatalf("a timed-out unless counts as failed: %+v", d)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("took %v", el)
	}
}

func TestFailure(t *testing.T) {
	e := mustNew(t, map[string]cty.Value{"command": s("echo to-stdout; echo to-stderr >&2; exit 3")})
	err := e.Apply(ctx, transport.NewLocal(), probe(t, e))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`exec "echo to-stdout; echo to-stderr >&2; exit 3": failed with exit status 3`, "stderr:\n  to-stderr", "stdout:\n  to-stdout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	t.Run("tail only", func(t *testing.T) {
		e := mustNew(t, map[string]cty.Value{"command": s("i=0; while [ $i -lt 100 ]; do echo line$i >&2; i=$((i+1)); done; exit 1")})
		err := e.Apply(ctx, transport.NewLocal(), probe(t, e))
		if err == nil || strings.Contains(err.Error(), "line79\n") || !strings.Contains(err.Error(), "line80\n") || !strings.HasSuffix(err.Error(), "line99") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestSensitiveValuesAreBlanked(t *testing.T) {
	c := cfg(map[string]cty.Value{
		"command":     s(`echo "login failed for $PASS" >&2; echo "$PASS"; exit 1`),
		"environment": cty.MapVal(map[string]cty.Value{"PASS": s("hunter2-secret")}),
	})
	c.Sensitive["environment"] = true
	r, err := New(c)
	must(t, err)
	err = r.Apply(ctx, transport.NewLocal(), probe(t, r))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "login failed for (sensitive)") {
		t.Fatalf("got %v", err)
	}
	c.Sensitive["command"] = true
	r, _ = New(c)
	err = r.Apply(ctx, transport.NewLocal(), probe(t, r))
	if err == nil || strings.Contains(err.Error(), "login failed for $PASS") || !strings.Contains(err.Error(), "(sensitive command)") {
		t.Fatalf("got %v", err)
	}
}

func TestGuardsRecheckedAtApply(t *testing.T) {
	dir := t.TempDir()
	e := mustNew(t, map[string]cty.Value{"command": s("touch ran"), "creates": s("made"), "cwd": s(dir)})
	d := probe(t, e)
	if d.Action != resource.Run {
		t.Fatal(d)
	}
	must(t, os.WriteFile(filepath.Join(dir, "made"), nil, 0o644)) // an earlier resource made it
	must(t, e.Apply(ctx, transport.NewLocal(), d))
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("ran although creates exists at apply time")
	}
}

func TestCwdCreatedLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	e := mustNew(t, map[string]cty.Value{"command": s("touch ran"), "creates": s("ran"), "cwd": s(dir)})
	d := probe(t, e)
	if d.Action != resource.Run || len(d.Changes) != 2 || d.Changes[1].Field != "cwd" {
		t.Fatalf("plan = %+v", d)
	}
	err := e.Apply(ctx, transport.NewLocal(), d)
	if err == nil || !strings.Contains(err.Error(), "cwd "+dir+" does not exist") {
		t.Fatalf("got %v", err)
	}
	must(t, os.Mkdir(dir, 0o755)) // a file resource made it
	must(t, e.Apply(ctx, transport.NewLocal(), d))
	if d := probe(t, e); !d.Empty() {
		t.Fatalf("plan = %+v", d)
	}
}

func TestRefresh(t *testing.T) {
	h := transport.NewLocal()
	t.Run("refresh_only runs only on refresh", func(t *testing.T) {
		dir := t.TempDir()
		e := mustNew(t, map[string]cty.Value{"command": s("echo x >> count"), "cwd": s(dir), "refresh_only": cty.True})
		if d := probe(t, e); !d.Empty() {
			t.Fatalf("plan = %+v", d)
		}
		did(t, "ran")(e.Refresh(ctx, h))
		if b, _ := os.ReadFile(filepath.Join(dir, "count")); string(b) != "x\n" {
			t.Fatalf("count = %q", b)
		}
	})
	t.Run("refresh honours the guards", func(t *testing.T) {
		dir := t.TempDir()
		e := mustNew(t, map[string]cty.Value{"command": s("touch ran"), "cwd": s(dir), "refresh_only": cty.True, "unless": s("true")})
		did(t, "")(e.Refresh(ctx, h))
		if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
			t.Fatal("ran although unless exits 0")
		}
	})
	t.Run("at most once per apply", func(t *testing.T) {
		dir := t.TempDir()
		e := mustNew(t, map[string]cty.Value{"command": s("echo x >> count"), "cwd": s(dir)})
		must(t, e.Apply(ctx, h, probe(t, e)))
		did(t, "")(e.Refresh(ctx, h))
		if b, _ := os.ReadFile(filepath.Join(dir, "count")); string(b) != "x\n" {
			t.Fatalf("count = %q", b)
		}
	})
	t.Run("refresh failure is an error", func(t *testing.T) {
		e := mustNew(t, map[string]cty.Value{"command": s("exit 4"), "refresh_only": cty.True})
		if _, err := e.Refresh(ctx, h); err == nil || !strings.Contains(err.Error(), "exit status 4") {
			t.Fatalf("got %v", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// did checks what a Refresh reports having done.
func did(t *testing.T, want string) func(string, error) {
	return func(got string, err error) {
		t.Helper()
		must(t, err)
		if got != want {
			t.Errorf("Refresh did %q, want %q", got, want)
		}
	}
}
