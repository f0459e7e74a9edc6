package line

import (
	"regexp"
	"testing"
)

func TestEdit(t *testing.T) {
	re := regexp.MustCompile
	const sshd = "#Port 22\n#PermitRootLogin prohibit-password\nPasswordAuthentication yes\n"
	tests := []struct {
		name string
		e    editor
		in   string
		want string // "" with same: unchanged
		same bool
	}{
		// present, with match
		{name: "replace the match",
			e:    editor{line: "PermitRootLogin no", hasLine: true, match: re(`^#?PermitRootLogin\s`)},
			in:   sshd,
			want: "#Port 22\nPermitRootLogin no\nPasswordAuthentication yes\n"},
		{name: "replace the last of several matches",
			e:    editor{line: "Port 2222", hasLine: true, match: re(`^#?Port `)},
			in:   "Port 22\n# comment\n#Port 22\nX\n",
			want: "Port 22\n# comment\nPort 2222\nX\n"},
		{name: "last match is the line already",
			e:  editor{line: "Port 2222", hasLine: true, match: re(`^#?Port `)},
			in: "#Port 22\nPort 2222\n", same: true},
		{name: "no match, line present elsewhere",
			e:  editor{line: "UseDNS no", hasLine: true, match: re(`^#UseDNS`)},
			in: "UseDNS no\n", same: true},
		{name: "no match: append",
			e:    editor{line: "UseDNS no", hasLine: true, match: re(`^#?UseDNS`)},
			in:   sshd,
			want: sshd + "UseDNS no\n"},
		{name: "match is unanchored",
			e:    editor{line: "a=2", hasLine: true, match: re(`a=`)},
			in:   "xa=1\n",
			want: "a=2\n"},
		{name: "match sees the line without CR",
			e:    editor{line: "b=2", hasLine: true, match: re(`^b=1$`)},
			in:   "a=1\r\nb=1\r\nc=1\r\n",
			want: "a=1\r\nb=2\r\nc=1\r\n"},

		// present, without match
		{name: "line present", e: editor{line: "x", hasLine: true}, in: "a\nx\nb\n", same: true},
		{name: "line present with CRLF", e: editor{line: "x", hasLine: true}, in: "a\r\nx\r\n", same: true},
		{name: "line present, last, no newline", e: editor{line: "x", hasLine: true}, in: "a\nx", same: true},
		{name: "append", e: editor{line: "x", hasLine: true}, in: "a\nb\n", want: "a\nb\nx\n"},
		{name: "append to empty", e: editor{line: "x", hasLine: true}, in: "", want: "x\n"},
		{name: "append after a last line without newline", e: editor{line: "x", hasLine: true}, in: "a\nb", want: "a\nb\nx\n"},
		{name: "append keeps CRLF", e: editor{line: "x", hasLine: true}, in: "a\r\nb\r\n", want: "a\r\nb\r\nx\r\n"},
		{name: "append CRLF, no newline", e: editor{line: "x", hasLine: true}, in: "a\r\nb", want: "a\r\nb\r\nx\r\n"},
		{name: "similar line is not the line", e: editor{line: "x", hasLine: true}, in: "x \n", want: "x \nx\n"},
		{name: "empty line", e: editor{line: "", hasLine: true}, in: "a\n", want: "a\n\n"},

		// insert_after
		{name: "insert after the last match",
			e:    editor{line: "10.0.0.11 db", hasLine: true, after: re(`^127\.`)},
			in:   "127.0.0.1 localhost\n127.0.1.1 h2\n\n::1 localhost\n",
			want: "127.0.0.1 localhost\n127.0.1.1 h2\n10.0.0.11 db\n\n::1 localhost\n"},
		{name: "insert after matching nothing: append",
			e:    editor{line: "x", hasLine: true, after: re(`^nope`)},
			in:   "a\n",
			want: "a\nx\n"},
		{name: "insert after the last line without newline",
			e:    editor{line: "x", hasLine: true, after: re(`^b`)},
			in:   "a\nb",
			want: "a\nb\nx\n"},
		{name: "insert_after only when match fails",
			e:    editor{line: "k=2", hasLine: true, match: re(`^k=`), after: re(`^a`)},
			in:   "a\nk=1\n",
			want: "a\nk=2\n"},
		{name: "match fails, insert after",
			e:    editor{line: "k=2", hasLine: true, match: re(`^k=`), after: re(`^\[main\]`)},
			in:   "[main]\nz=1\n[other]\n",
			want: "[main]\nk=2\nz=1\n[other]\n"},
		{name: "insert after keeps CRLF",
			e:    editor{line: "x", hasLine: true, after: re(`^a$`)},
			in:   "a\r\nb\r\n",
			want: "a\r\nx\r\nb\r\n"},

		// absent
		{name: "absent by match",
			e:    editor{absent: true, match: re(`^#?PermitRootLogin`)},
			in:   "PermitRootLogin yes\nX\n#PermitRootLogin no\n",
			want: "X\n"},
		{name: "absent by line",
			e:    editor{absent: true, line: "x", hasLine: true},
			in:   "x\na\nx\nx \n",
			want: "a\nx \n"},
		{name: "absent by match or line",
			e:    editor{absent: true, line: "x", hasLine: true, match: re(`^y`)},
			in:   "x\ny1\nz\n",
			want: "z\n"},
		{name: "absent: nothing matches", e: editor{absent: true, match: re(`^q`)}, in: "a\n", same: true},
		{name: "absent without line does not remove empty lines", e: editor{absent: true, match: re(`^q`)}, in: "a\n\nq\n", want: "a\n\n"},
		{name: "absent: the last line, without newline", e: editor{absent: true, line: "b", hasLine: true}, in: "a\nb", want: "a\n"},
		{name: "absent keeps a last line without newline", e: editor{absent: true, line: "a", hasLine: true}, in: "a\nb", want: "b"},
		{name: "absent with CRLF", e: editor{absent: true, line: "a", hasLine: true}, in: "a\r\nb\r\n", want: "b\r\n"},
		{name: "absent: every line", e: editor{absent: true, match: re(`.`)}, in: "a\nb\n", want: ""},

		// line breaks within the file are never changed
		{name: "replace keeps a missing last newline",
			e:    editor{line: "b=2", hasLine: true, match: re(`^b=`)},
			in:   "a\nb=1",
			want: "a\nb=2"},
		{name: "replace keeps mixed line breaks",
			e:    editor{line: "b=2", hasLine: true, match: re(`^b=`)},
			in:   "a\r\nb=1\nc\r\n",
			want: "a\r\nb=2\nc\r\n"},
		{name: "a lone CR is part of the line",
			e:  editor{line: "a", hasLine: true},
			in: "a\rb\n", want: "a\rb\na\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.e.apply(tt.in)
			if tt.same {
				if got.changed || got.content != tt.in {
					t.Fatalf("want no change, got %q", got.content)
				}
				return
			}
			if !got.changed || got.content != tt.want {
				t.Fatalf("edit of %q:\n got %q (changed %v)\nwant %q", tt.in, got.content, got.changed, tt.want)
			}
			// Every edit is idempotent: applied again, it changes nothing.
			if again := tt.e.apply(got.content); again.changed {
				t.Fatalf("not idempotent: %q then %q", got.content, again.content)
			}
		})
	}
}
