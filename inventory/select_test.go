package inventory

import (
	"errors"
	"strings"
	"testing"
)

func TestExpandPattern(t *testing.T) {
	tests := []struct {
		in      string
		want    string // names joined by spaces
		wantErr string
	}{
		{in: "web1", want: "web1"},
		{in: "sopine[01:07]", want: "sopine01 sopine02 sopine03 sopine04 sopine05 sopine06 sopine07"},
		{in: "node[1:12]", want: "node1 node2 node3 node4 node5 node6 node7 node8 node9 node10 node11 node12"},
		{in: "n[08:11]", want: "n08 n09 n10 n11"},
		{in: "n[001:003].lan", want: "n001.lan n002.lan n003.lan"},
		{in: "rock[a:c]", want: "rocka rockb rockc"},
		{in: "R[X:Z]", want: "RX RY RZ"},
		{in: "n[1:10:3]", want: "n1 n4 n7 n10"},
		{in: "x[a:g:3]", want: "xa xd xg"},
		{in: "r[1:2]-[a:b]", want: "r1-a r1-b r2-a r2-b"},
		{in: "[1:2][1:2]", want: "11 12 21 22"},
		{in: "n[5:5]", want: "n5"},
		{in: "n[0:2]", want: "n0 n1 n2"},
		{in: "", wantErr: "empty pattern"},
		{in: "n[7:1]", wantErr: "start 7 is greater than end 1"},
		{in: "n[c:a]", wantErr: "start \"c\" is after end \"a\""},
		{in: "n[1:c]", wantErr: "mixes a number and a letter"},
		{in: "n[a:Z]", wantErr: "mixes lower and upper case"},
		{in: "n[1:3", wantErr: "is not closed"},
		{in: "n[1:[2:3]]", wantErr: "is not closed"},
		{in: "n1:3]", wantErr: "without a matching"},
		{in: "n[]", wantErr: "must be [start:end]"},
		{in: "n[12]", wantErr: "must be [start:end]"},
		{in: "n[1:2:3:4]", wantErr: "must be [start:end]"},
		{in: "n[:3]", wantErr: "needs both a start and an end"},
		{in: "n[1:3:0]", wantErr: "step \"0\""},
		{in: "n[1:3:-1]", wantErr: "step \"-1\""},
		{in: "n[01:100]", wantErr: "same width"},
		{in: "n[aa:bb]", wantErr: "bounds must be"},
		{in: "n[ 1:3]", wantErr: "bounds must be"},
		{in: "n[1:99999]", wantErr: "more than 16384"},
		{in: "n[1:200][1:200]", wantErr: "more than 16384"},
		{in: "n[1:9999999999]", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ExpandPattern(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrPattern) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}

const selectInventory = `
host "proxy" {}
group "render" {
  hosts    = ["sopine[01:07]"]
  children = ["canary"]
}
group "canary" { hosts = ["sopine03", "rock1"] }
group "rock" { hosts = ["rock[1:3]"] }
group "empty" {}
`

func TestSelect(t *testing.T) {
	inv := parse(t, selectInventory)
	all := "proxy sopine01 sopine02 sopine03 sopine04 sopine05 sopine06 sopine07 rock1 rock2 rock3"
	tests := []struct {
		sel     string
		want    string
		wantErr string
	}{
		{sel: "", want: all},
		{sel: "  ", want: all},
		{sel: "all", want: all},
		{sel: "*", want: all},
		{sel: "proxy", want: "proxy"},
		{sel: "canary", want: "sopine03 rock1"},
		{sel: "render", want: "sopine01 sopine02 sopine03 sopine04 sopine05 sopine06 sopine07 rock1"},
		{sel: "rock3,proxy", want: "proxy rock3"},
		{sel: "rock3:proxy", want: "proxy rock3"},
		{sel: "rock, proxy ,, ", want: "proxy rock1 rock2 rock3"},
		{sel: "sopine0*", want: "sopine01 sopine02 sopine03 sopine04 sopine05 sopine06 sopine07"},
		{sel: "rock?", want: "rock1 rock2 rock3"},
		{sel: "sopine0[12]", want: "sopine01 sopine02"},            // no ':' in brackets: glob class
		{sel: "sopine[01:03]", want: "sopine01 sopine02 sopine03"}, // ':' in brackets: range
		{sel: "sopine[01:03],rock[2:3]", want: "sopine01 sopine02 sopine03 rock2 rock3"},
		{sel: "sopine[05:09]", want: "sopine05 sopine06 sopine07"}, // names beyond the inventory are ignored
		{sel: "sopine0[1:2]*", want: "sopine01 sopine02"},
		{sel: "[r:s]*", want: "sopine01 sopine02 sopine03 sopine04 sopine05 sopine06 sopine07 rock1 rock2 rock3"},
		{sel: "~sopine0[1-3]", want: "sopine01 sopine02 sopine03"},
		{sel: "~.*[23]$", want: "sopine02 sopine03 rock2 rock3"},
		{sel: "~ine0", wantErr: "no host name matches the regular expression"}, // anchored at the start
		{sel: "render,!canary", want: "sopine01 sopine02 sopine04 sopine05 sopine06 sopine07"},
		{sel: "!canary,render", want: "sopine01 sopine02 sopine04 sopine05 sopine06 sopine07"},
		{sel: "render,&rock", want: "rock1"},
		{sel: "render:!canary:&sopine0[4:9]", want: "sopine04 sopine05 sopine06 sopine07"},
		{sel: "rock,&render,&canary", want: "rock1"},
		{sel: "!render", want: "proxy rock2 rock3"},
		{sel: "&rock", want: "rock1 rock2 rock3"},
		{sel: "all,!sopine*,!proxy", want: "rock1 rock2 rock3"},
		{sel: "rock1,!empty", want: "rock1"}, // excluding an existing empty group is fine
		{sel: "sopin01", wantErr: `limit "sopin01" matches no host: no host or group is named "sopin01" (did you mean "sopine01"?)`},
		{sel: "proxy,!nosuch", wantErr: `limit "!nosuch" matches no host`},
		{sel: "proxy,&rock", wantErr: "no host is left"},
		{sel: "empty", wantErr: `group "empty" has no hosts`},
		{sel: "web*", wantErr: `no host name matches the glob "web*"`},
		{sel: "node[1:3]", wantErr: "none of the 3 names"},
		{sel: "node[3:1]", wantErr: "start 3 is greater than end 1"},
		{sel: "sopine[01:03", wantErr: "not closed"},
		{sel: "~(", wantErr: "invalid regular expression"},
		{sel: "!", wantErr: "the term is empty"},
		{sel: "x1,x2", wantErr: `limit "x1" matches no host`},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			got, err := inv.Select(tt.sel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", hostNames(got), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := hostNames(got); s != tt.want {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	inv := parse(t, selectInventory)
	_, err := inv.Select("x1,proxy,!x2")
	if !errors.Is(err, ErrNoMatch) {
		t.Fatalf("errors.Is(%v, ErrNoMatch) is false", err)
	}
	var nm *NoMatchError
	if !errors.As(err, &nm) || nm.Term != "x1" {
		t.Errorf("first NoMatchError %+v", nm)
	}
	if !strings.Contains(err.Error(), `"x1"`) || !strings.Contains(err.Error(), `"!x2"`) {
		t.Errorf("every failing term must be named: %v", err)
	}
}

func TestSplitSelector(t *testing.T) {
	got := strings.Join(splitSelector("a, b:c[1:2],!d[a:b]:&e ,"), "|")
	if want := "a|b|c[1:2]|!d[a:b]|&e"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
