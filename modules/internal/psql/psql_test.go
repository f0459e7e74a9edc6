package psql

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/resource"
)

// Names an attacker (or a typo) could give: each must reach psql as one
// argument, byte for byte, whatever the shell makes of it.
var hostile = []string{
	`plain`,
	`it's`,
	`"quoted"`,
	`back\slash\`,
	`$$ LANGUAGE sql $$`,
	`x'; DROP ROLE postgres; --`,
	`a;b`,
	"line\nbreak",
	"tab\there",
	`$(touch /tmp/pwned)`,
	"`id`",
	`:'n0' :"n0"`,
	`-v`,
	`Ünïcødé ☃ 名前`,
	`   `,
	`*`,
}

// TestCommandArguments runs Command through sh with a stand-in runuser
// that prints its arguments: each value arrives whole and unchanged.
func TestCommandArguments(t *testing.T) {
	dir := t.TempDir()
	stub := "#!/bin/sh\nfor a; do printf '%s\\0' \"$a\"; done\n"
	if err := os.WriteFile(filepath.Join(dir, "runuser"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	var vars []Var
	for i, h := range hostile {
		vars = append(vars, Var{Name: "n" + string(rune('a'+i)), Value: h})
	}
	cmd := exec.Command("sh", "-c", Command(vars))
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	args := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	want := []string{"-u", "postgres", "--", "env", "PGCLIENTENCODING=UTF8", "psql", "-X", "-q", "-A", "-t", "-h", SocketDir, "-p", "5432", "-d", "postgres",
		"-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=terse"}
	for _, v := range vars {
		want = append(want, "-v", v.Name+"="+v.Value)
	}
	if strings.Join(args, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("arguments\n got %q\nwant %q", args, want)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Fatal("a value was run as a command")
	}
}

func TestParseProbe(t *testing.T) {
	tests := []struct {
		name, out string
		exit      int
		want      Output
		err       string
	}{
		{name: "missing", out: "server=missing\n", want: Output{Down: true, Missing: true}},
		{name: "down", out: "server=down\n", want: Output{Down: true}},
		{name: "no rows", out: "psql=0\n"},
		{name: "rows", out: "@0 role=present\n@0 login=true\npsql=0\n", want: Output{Rows: []string{"0 role=present", "0 login=true"}}},
		{name: "warning kept apart", out: "WARNING:  something\n@1 a=b\npsql=0\n", want: Output{Rows: []string{"1 a=b"}, Messages: "WARNING:  something"}},
		{name: "psql error", out: "psql:<stdin>:3: ERROR:  permission denied for table pg_authid\npsql=3\n", err: "exit status 3) reading the current state: psql:<stdin>:3: ERROR:  permission denied"},
		{name: "cannot connect", out: "psql: error: connection to server failed: FATAL:  the database system is starting up\npsql=2\n", err: "starting up"},
		{name: "silent failure", out: "psql=1\n", err: "no message"},
		{name: "no status", out: "@0 a=b\n", err: "no psql status"},
		{name: "truncated", out: "@0 a=b\npsql=0", err: "no psql status"},
		{name: "empty", out: "", err: "no psql status"},
		{name: "snippet failed", out: "", exit: 1, err: "exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseProbe(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Down != tt.want.Down || o.Missing != tt.want.Missing || strings.Join(o.Rows, "|") != strings.Join(tt.want.Rows, "|") || o.Messages != tt.want.Messages {
				t.Fatalf("got %+v, want %+v", *o, tt.want)
			}
		})
	}
}

func TestRows(t *testing.T) {
	rows, err := Rows([]string{"0 a=1", "1 a=2", "1 b=x=y", "0 empty="}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0]["a"] != "1" || rows[0]["empty"] != "" || rows[1]["a"] != "2" || rows[1]["b"] != "x=y" || len(rows[2]) != 0 {
		t.Fatalf("rows %v", rows)
	}
	for _, bad := range [][]string{{"3 a=1"}, {"-1 a=1"}, {"x a=1"}, {"0 a"}, {"0"}, {"0 =1"}, {"0 a=1", "0 a=2"}, {" 0 a=1"}} {
		if _, err := Rows(bad, 3); err == nil {
			t.Errorf("Rows(%q) accepted", bad)
		}
	}
}

func TestSplit(t *testing.T) {
	out := resource.ProbeResult{Stdout: []byte("@1 role=present\n@0 x=1\n@1 login=true\npsql=0\n")}
	rs, err := Split(out, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"@0 x=1\npsql=0\n", "@0 role=present\n@0 login=true\npsql=0\n", "psql=0\n"}
	for i, r := range rs {
		if string(r.Stdout) != want[i] || r.ExitCode != 0 {
			t.Errorf("resource %d: %q, want %q", i, r.Stdout, want[i])
		}
	}
	// Down, or failed: every resource sees the same, and fails alike.
	for _, s := range []string{"server=down\n", "server=missing\n", "ERROR: x\npsql=3\n"} {
		rs, err := Split(resource.ProbeResult{Stdout: []byte(s)}, 2)
		if err != nil || len(rs) != 2 || string(rs[0].Stdout) != s || string(rs[1].Stdout) != s {
			t.Errorf("Split(%q) = %v, %v", s, rs, err)
		}
	}
	if _, err := Split(resource.ProbeResult{Stdout: []byte("@7 a=b\npsql=0\n")}, 2); err == nil {
		t.Error("a row for resource 7 of 2 was accepted")
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range append([]string{strings.Repeat("x", 63), strings.Repeat("é", 31)}, hostile...) {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                      "empty",
		"a\x00b":                "NUL",
		"\xff":                  "UTF-8",
		strings.Repeat("x", 64): "64 bytes",
		strings.Repeat("é", 32): "64 bytes",
	} {
		if err := CheckName(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckName(%q) = %v, want %q", bad, err, want)
		}
	}
}

func TestHex(t *testing.T) {
	for _, h := range hostile {
		enc := []byte{}
		for _, c := range []byte(h) {
			enc = append(enc, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
		got, err := DecodeHex(string(enc))
		if err != nil || got != h {
			t.Errorf("DecodeHex(%s) = %q, %v", enc, got, err)
		}
	}
	if _, err := DecodeHex("zz"); err == nil {
		t.Error("DecodeHex accepted zz")
	}
}

// FuzzProbeOutput: whatever a host prints, parsing never panics, and
// what Split makes of it parses as the output of one resource's probe.
func FuzzProbeOutput(f *testing.F) {
	f.Add([]byte("@0 role=present\n@1 a=b\npsql=0\n"), 2)
	f.Add([]byte("server=down\n"), 1)
	f.Add([]byte("ERROR\npsql=3\n"), 3)
	f.Fuzz(func(t *testing.T, out []byte, n int) {
		if n < 1 || n > 8 {
			return
		}
		o, err := ParseProbe(resource.ProbeResult{Stdout: out})
		if err == nil && !o.Down {
			_, _ = Rows(o.Rows, n)
		}
		rs, err := Split(resource.ProbeResult{Stdout: out}, n)
		if err != nil {
			return
		}
		for _, r := range rs {
			if bytes.Equal(r.Stdout, out) {
				continue
			}
			if _, err := ParseProbe(r); err != nil {
				t.Fatalf("Split made %q, which does not parse: %v", r.Stdout, err)
			}
		}
	})
}
