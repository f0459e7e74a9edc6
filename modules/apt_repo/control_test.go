package aptrepo

import (
	"strings"
	"testing"
)

func TestParseParagraph(t *testing.T) {
	tests := []struct {
		name, in string
		fields   string // Name=Value|... of the result
		err      string
	}{
		{name: "simple", in: "Package: hello\nVersion: 1.0\n", fields: "Package=hello|Version=1.0"},
		{name: "no final newline", in: "Package: hello", fields: "Package=hello"},
		{name: "trailing blank lines", in: "Package: hello\n\n\n", fields: "Package=hello"},
		{name: "continuation", in: "Description: short\n long line\n .\n more\nX: y\n", fields: "Description=short\n long line\n .\n more|X=y"},
		{name: "empty first line", in: "Conffiles:\n /etc/a 123\n", fields: "Conffiles=\n /etc/a 123"},
		{name: "no space after colon", in: "Package:hello\n", fields: "Package=hello"},
		{name: "tab continuation", in: "A: b\n\tc\n", fields: "A=b\n\tc"},
		{name: "empty", in: "\n\n", err: "empty"},
		{name: "two paragraphs", in: "A: b\n\nC: d\n", err: "line 2: a blank line"},
		{name: "space-only line", in: "A: b\n \nC: d\n", err: "line 2: a blank line"},
		{name: "leading continuation", in: " x\nA: b\n", err: "line 1: a continuation line before any field"},
		{name: "no colon", in: "A: b\nnonsense\n", err: "line 2: not a field"},
		{name: "space in name", in: "A b: c\n", err: "not a field"},
		{name: "comment", in: "#A: b\n", err: "not a field"},
		{name: "dash name", in: "-A: b\n", err: "not a field"},
		{name: "duplicate", in: "A: b\na: c\n", err: "field a given twice"},
		{name: "carriage return", in: "A: b\r\n", err: "carriage return"},
		{name: "nul", in: "A: b\x00\n", err: "NUL"},
		{name: "huge", in: "A: " + strings.Repeat("x", maxControl), err: "is not a control file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseParagraph(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range p {
				got = append(got, f.Name+"="+f.Value)
			}
			if g := strings.Join(got, "|"); g != tt.fields {
				t.Errorf("fields\n got %q\nwant %q", g, tt.fields)
			}
		})
	}
}

func TestParagraphRoundTrip(t *testing.T) {
	in := "Package: hello\nVersion: 1:2.0-1\nConffiles:\n /etc/a 123\nDescription: short\n long\n .\n more\n"
	p, err := ParseParagraph(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != in {
		t.Errorf("round trip\n got %q\nwant %q", p.String(), in)
	}
	if got := p.Without("version", "CONFFILES").String(); got != "Package: hello\nDescription: short\n long\n .\n more\n" {
		t.Errorf("Without: %q", got)
	}
	if p.Get("VERSION") != "1:2.0-1" || p.Get("Missing") != "" {
		t.Errorf("Get: %q %q", p.Get("VERSION"), p.Get("Missing"))
	}
}

func TestPoolPath(t *testing.T) {
	tests := []struct{ comp, src, name, version, arch, want string }{
		{"main", "hello", "hello", "1.0-1", "amd64", "pool/main/h/hello/hello_1.0-1_amd64.deb"},
		{"main", "libfoo", "libfoo1", "2:1.2", "arm64", "pool/main/libf/libfoo/libfoo1_1.2_arm64.deb"},
		{"contrib", "lib", "lib", "1", "all", "pool/contrib/l/lib/lib_1_all.deb"},
		{"main", "moosefs", "moosefs-client", "4.56.6", "armhf", "pool/main/m/moosefs/moosefs-client_4.56.6_armhf.deb"},
	}
	for _, tt := range tests {
		if got := poolPath(tt.comp, tt.src, tt.name, tt.version, tt.arch); got != tt.want {
			t.Errorf("poolPath(%s %s %s) = %s, want %s", tt.src, tt.name, tt.version, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, ok := range []string{"stable", "bookworm-backports", "main", "v1.2", "a_b+c"} {
		if err := CheckName("suite", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "-x", "a b", "ü"} {
		if err := CheckName("suite", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range []string{"all", "AMD64", "amd64 arm64", "", "../x"} {
		if err := CheckArch(bad); err == nil {
			t.Errorf("architecture %q accepted", bad)
		}
	}
}

// FuzzParseParagraph: whatever parses prints back to text that parses to
// the same fields, and never holds a blank line (which would split a
// Packages stanza).
func FuzzParseParagraph(f *testing.F) {
	f.Add("Package: hello\nVersion: 1.0\n")
	f.Add("Description: a\n b\n .\n c\n")
	f.Add("A:\n b\n")
	f.Add("A: b\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParseParagraph(in)
		if err != nil {
			return
		}
		out := p.String()
		if strings.Contains(out, "\n\n") || strings.HasPrefix(out, "\n") {
			t.Fatalf("printed paragraph has a blank line: %q", out)
		}
		q, err := ParseParagraph(out)
		if err != nil {
			t.Fatalf("printed paragraph does not parse: %v\n%q", err, out)
		}
		if q.String() != out {
			t.Fatalf("not stable:\n%q\n%q", out, q.String())
		}
	})
}
