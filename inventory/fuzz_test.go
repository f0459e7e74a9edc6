package inventory

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/parse/*.hcl")
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(selectInventory))
	f.Add([]byte(`group "a" { children = ["a"] }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		inv, diags := Parse(src, "fuzz.hcl")
		if diags.HasErrors() {
			if inv != nil {
				t.Fatal("inventory returned with errors")
			}
			return
		}
		if inv == nil {
			t.Fatal("nil inventory without errors")
		}
		all := inv.Groups[AllGroup]
		if all == nil || len(all.Hosts) != len(inv.Hosts) {
			t.Fatal("group all does not hold every host")
		}
		for _, h := range inv.Hosts {
			if !sort.StringsAreSorted(h.Groups) || !h.InGroup(AllGroup) {
				t.Fatalf("host %s groups %v", h.Name, h.Groups)
			}
			for _, g := range h.Groups {
				if inv.Groups[g] == nil {
					t.Fatalf("host %s in unknown group %s", h.Name, g)
				}
			}
			if h.Address == "" || h.User == "" || h.Port < 1 || h.ConnectTimeout <= 0 {
				t.Fatalf("host %+v", h)
			}
			h.VarsValue()
		}
		if _, err := inv.Select(""); err != nil && len(inv.Hosts) > 0 {
			t.Fatal(err)
		}
	})
}

func FuzzExpandPattern(f *testing.F) {
	for _, s := range []string{"web1", "sopine[01:07]", "n[1:10:2]", "r[a:c]-[1:2]", "n[7:1]", "n[1:3", "x]", "[", "[:]", "n[01:100]", "n[a:Z]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		names, err := ExpandPattern(p)
		if err != nil {
			return
		}
		if len(names) == 0 || len(names) > MaxExpansion {
			t.Fatalf("%q expanded to %d names", p, len(names))
		}
		if !strings.ContainsAny(p, "[]") && (len(names) != 1 || names[0] != p) {
			t.Fatalf("%q without brackets expanded to %v", p, names)
		}
		for _, n := range names {
			if strings.ContainsAny(n, "[]") {
				t.Fatalf("%q: name %q keeps a bracket", p, n)
			}
		}
		// The selector's expansion agrees when every bracket is a range.
		sel, err := expand(p, true)
		if err != nil || len(sel) != len(names) {
			t.Fatalf("%q: selector expansion %d names, %v", p, len(sel), err)
		}
	})
}

func FuzzParseFacts(f *testing.F) {
	f.Add([]byte(goodFacts))
	f.Add([]byte("banner\n" + goodFacts + "tail"))
	f.Add([]byte("--pinery-facts--\nx\n--pinery-facts-end--\n"))
	f.Add([]byte("--pinery-facts--\r\nhostname=\xff\r\n"))
	f.Add([]byte(strings.Replace(goodFacts, "os_id=debian", "mounts=/ nfs x:/a\\073; /b ext4 c\ndisks=sda 1 0 1\nroot_network=true", 1)))
	f.Fuzz(func(t *testing.T, out []byte) {
		facts, err := ParseFacts(out)
		if err != nil {
			if facts != nil {
				t.Fatal("facts returned with an error")
			}
			return
		}
		for _, k := range requiredFacts {
			if facts[k] == "" {
				t.Fatalf("required fact %s empty", k)
			}
		}
		for k, v := range facts {
			if strings.ContainsAny(v, "\n") || !validFactKey(k) {
				t.Fatalf("bad fact %q=%q", k, v)
			}
		}
		facts.Value()
	})
}
