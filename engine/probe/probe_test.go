package probe

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/transport"
)

// The script runs for real under sh; its output must split back into the
// snippets' outputs and exit statuses, whatever they print.
func TestScriptRoundTrip(t *testing.T) {
	snippets := []string{
		`printf 'a=1\nb=2\n'`,
		`printf 'no newline'`,
		`exit 3`,
		`printf '\n\n'`,
		`cat; echo "stdin was empty"`,
		`printf '%s\n' '--pinery-forged 5 0'`,
		`printf 'err' >&2; exit 1`,
	}
	want := []struct {
		out string
		rc  int
	}{
		{"a=1\nb=2\n", 0},
		{"no newline", 0},
		{"", 3},
		{"\n\n", 0},
		{"stdin was empty\n", 0},
		{"--pinery-forged 5 0\n", 0},
		{"", 1},
	}
	s := New(snippets)
	res, err := transport.NewLocal().Run(context.Background(), "exec sh -s", strings.NewReader(s.Text))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %v %+v", err, res)
	}
	got, err := s.Parse(append([]byte("Welcome banner\n"), res.Stdout...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	for i, w := range want {
		if string(got[i].Stdout) != w.out || got[i].ExitCode != w.rc {
			t.Errorf("snippet %d: got %q rc %d, want %q rc %d", i, got[i].Stdout, got[i].ExitCode, w.out, w.rc)
		}
	}
}

func TestParseRejectsDamagedOutput(t *testing.T) {
	s := New([]string{"echo a", "echo b"})
	res, err := transport.NewLocal().Run(context.Background(), "exec sh -s", strings.NewReader(s.Text))
	if err != nil {
		t.Fatal(err)
	}
	full := string(res.Stdout)
	cases := map[string]string{
		"empty":         "",
		"no start":      strings.Replace(full, " start\n", " strat\n", 1),
		"truncated":     full[:len(full)/2],
		"no end":        strings.Replace(full, " end\n", "\n", 1),
		"wrong order":   strings.Replace(strings.Replace(full, " 0 0\n", " X 0\n", 1), " 1 0\n", " 0 0\n", 1),
		"bad exit code": strings.Replace(full, " 1 0\n", " 1 zero\n", 1),
	}
	for name, out := range cases {
		if _, err := s.Parse([]byte(out)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	if _, err := s.Parse([]byte(full)); err != nil {
		t.Errorf("intact output: %v", err)
	}
}

func TestBoundaryIsFreshPerScript(t *testing.T) {
	if New(nil).boundary == New(nil).boundary {
		t.Fatal("two scripts share a boundary")
	}
}

func FuzzProbeParse(f *testing.F) {
	s := New([]string{"x", "y"})
	b := s.boundary
	f.Add([]byte(b + " start\nA\n" + b + " 0 0\nB\n" + b + " 1 2\n" + b + " end\n"))
	f.Add([]byte("banner\n" + b + " start\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, out []byte) {
		res, err := s.Parse(out)
		if err == nil && len(res) != 2 {
			t.Fatalf("no error but %d results", len(res))
		}
	})
}

func BenchmarkScript1000(b *testing.B) {
	snips := make([]string, 1000)
	for i := range snips {
		snips[i] = `stat -c '%f %U %G %s' '/etc/some/file' 2>/dev/null; sha256sum '/etc/some/file' 2>/dev/null`
	}
	s := New(snips)
	var out strings.Builder
	out.WriteString(s.boundary + " start\n")
	for i := range snips {
		out.WriteString("81a4 root root 1234\nabcdef0123456789  /etc/some/file\n")
		out.WriteString("\n" + s.boundary + " " + itoa(i) + " 0\n")
	}
	out.WriteString(s.boundary + " end\n")
	data := []byte(out.String())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		New(snips)
		if _, err := s.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
