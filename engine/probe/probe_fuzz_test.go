package probe

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/pinery/pinery/engine/resource"
)

// frame builds what the script prints for these results, as sh does, after
// a banner: the stream Parse must split back exactly.
func (s *Script) frame(banner []byte, res []resource.ProbeResult) []byte {
	var b bytes.Buffer
	b.Write(banner)
	b.WriteString(s.boundary + " start\n")
	for i, r := range res {
		b.Write(r.Stdout)
		b.WriteString("\n" + s.boundary + " " + strconv.Itoa(i) + " " + strconv.Itoa(r.ExitCode) + "\n")
	}
	b.WriteString(s.boundary + " end\n")
	return b.Bytes()
}

// FuzzFrames: whatever the snippets print (split from outs at each NUL
// byte) and whatever banner comes first, the stream splits back into
// exactly those outputs and exit statuses; and every strict prefix of it
// (a stream cut short anywhere) is an error, never a partial result.
func FuzzFrames(f *testing.F) {
	f.Add([]byte(""), []byte("a=1\nb=2\n\x00\x00no newline"), []byte{0, 3, 255})
	f.Add([]byte("Welcome to h1\nLast login: never\n"), []byte("--pinery-0123 0 0\n\x00\n\n"), []byte{1})
	f.Add([]byte("\xff\xfe"), []byte("line\r\n\x00start\n"), []byte{})
	f.Fuzz(func(t *testing.T, banner, outs, rcs []byte) {
		if len(banner) > 1<<10 || len(outs) > 4<<10 {
			return
		}
		parts := bytes.Split(outs, []byte{0})
		if len(parts) > 64 {
			parts = parts[:64]
		}
		want := make([]resource.ProbeResult, len(parts))
		for i, p := range parts {
			want[i].Stdout = p
			if i < len(rcs) {
				want[i].ExitCode = int(rcs[i])
			}
		}
		s := New(make([]string, len(parts)))
		stream := s.frame(banner, want)
		got, err := s.Parse(stream)
		if err != nil {
			t.Fatalf("intact stream: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d results, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i].Stdout, want[i].Stdout) || got[i].ExitCode != want[i].ExitCode {
				t.Fatalf("result %d: got %q rc %d, want %q rc %d", i, got[i].Stdout, got[i].ExitCode, want[i].Stdout, want[i].ExitCode)
			}
		}
		// Cut after the banner, so that every cut loses some of the frames;
		// at up to 300 places, every byte for a short stream.
		step := max(1, (len(stream)-len(banner))/300)
		for cut := len(banner); cut < len(stream); cut += step {
			if res, err := s.Parse(stream[:cut]); err == nil || res != nil {
				t.Fatalf("stream cut at %d of %d parsed: %d results, error %v", cut, len(stream), len(res), err)
			}
		}
	})
}

// FuzzParseAny: any stream, whatever it holds, is either an error or
// exactly one result per snippet, each with an exit status a shell can
// produce.
func FuzzParseAny(f *testing.F) {
	s := New([]string{"x", "y"})
	b := s.boundary
	f.Add([]byte(b + " start\nA\n" + b + " 0 0\nB\n" + b + " 1 2\n" + b + " end\n"))
	f.Add([]byte(b + " start\n\n" + b + " 0 -1\n\n" + b + " 1 256\n" + b + " end\n"))
	f.Add([]byte(b + " start\r\n\r\n" + b + " 0 0\r\n\r\n" + b + " 1 0\r\n" + b + " end\r\n"))
	f.Add([]byte(b + " start\n\n" + b + "  0 0\n\n" + b + " 1\t0\n" + b + " end\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		res, err := s.Parse(out)
		if err != nil {
			if res != nil {
				t.Fatal("results returned with an error")
			}
			return
		}
		if len(res) != 2 {
			t.Fatalf("no error but %d results", len(res))
		}
		for _, r := range res {
			if r.ExitCode < 0 || r.ExitCode > 255 {
				t.Fatalf("exit status %d", r.ExitCode)
			}
		}
	})
}

// TestParseMalformed: damage a host can do to the stream is an error that
// says what is wrong, never a result.
func TestParseMalformed(t *testing.T) {
	s := New([]string{"echo a", "echo b"})
	b := s.boundary
	good := string(s.frame(nil, []resource.ProbeResult{{Stdout: []byte("a\n")}, {Stdout: []byte("b\n")}}))
	other := New(nil).boundary // another run's boundary: a replayed or forged stream
	cases := []struct{ name, out, want string }{
		{"crlf line ends", strings.ReplaceAll(good, "\n", "\r\n"), "no start marker"},
		{"another run's stream", strings.ReplaceAll(good, b, other), "no start marker"},
		{"banner only", "Welcome to h1\n", "no start marker"},
		{"start marker only", b + " start\n", "truncated after 0 of 2"},
		{"frame cut short", good[:strings.Index(good, " 0 0\n")+3], "truncated in the frame"},
		{"no end marker", strings.TrimSuffix(good, b+" end\n"), "no end marker"},
		{"end marker cut", strings.TrimSuffix(good, "\n"), "no end marker"},
		{"frames out of order", strings.Replace(good, " 0 0\n", " 1 0\n", 1), "out of order"},
		{"tab delimiter", strings.Replace(good, " 0 0\n", " 0\t0\n", 1), "malformed frame"},
		{"double space", strings.Replace(good, " 0 0\n", " 0  0\n", 1), "malformed frame"},
		{"extra field", strings.Replace(good, " 0 0\n", " 0 0 0\n", 1), "malformed frame"},
		{"status missing", strings.Replace(good, " 0 0\n", " 0\n", 1), "malformed frame"},
		{"negative status", strings.Replace(good, " 0 0\n", " 0 -1\n", 1), "bad exit status"},
		{"status too big", strings.Replace(good, " 0 0\n", " 0 256\n", 1), "bad exit status"},
		{"status not a number", strings.Replace(good, " 1 0\n", " 1 zero\n", 1), "bad exit status"},
		{"status with sign", strings.Replace(good, " 1 0\n", " 1 +0\n", 1), "bad exit status"},
		{"status with leading zero", strings.Replace(good, " 1 0\n", " 1 00\n", 1), "bad exit status"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.Parse([]byte(c.out))
			if err == nil || res != nil {
				t.Fatalf("parsed: %d results, error %v", len(res), err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to say %q", err, c.want)
			}
		})
	}
	if _, err := s.Parse([]byte("motd\n" + good + "logout banner\n")); err != nil {
		t.Errorf("a banner before and after the frames: %v", err)
	}
}
