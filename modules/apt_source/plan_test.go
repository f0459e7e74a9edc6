package aptsource

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

func TestPlanTable(t *testing.T) {
	k, old := newTestKey(t), newTestKey(t)
	s := newSource(t, "", base(k.publicArmored))
	oldKey, err := parseKey([]byte(old.publicArmored), true)
	if err != nil {
		t.Fatal(err)
	}
	file := func(label string, mode, uid string, content []byte) string {
		sum := sha(content)
		out := fmt.Sprintf("%s=file %s %s 0 %d %s\n", label, mode, uid, len(content), sum)
		if sum != s.want(label) && s.want(label) != "" {
			out += label + "_base64=" + base64.StdEncoding.EncodeToString(content) + "\n"
		}
		return out
	}
	good := file("sources", "644", "0", s.content) + file("asc", "644", "0", s.key.data) + "gpg=none\n"
	oldSources := strings.Replace(string(s.content), "Suites: bookworm-updates", "Suites: bookworm", 1)
	tests := []struct {
		name     string
		src      *Source
		out      string
		action   resource.Action
		changes  string
		write    string
		remove   string
		update   bool
		textDiff string
		err      string
	}{
		{name: "new", out: "sources=none\nasc=none\ngpg=none\n", action: resource.Create,
			changes: "sources: → /etc/apt/sources.list.d/test.sources; signing_key: → " + k.fingerprint + " (/etc/apt/keyrings/pinery-test.asc); apt lists: → apt-get update of this source",
			write:   "sources asc", update: true, textDiff: "+Signed-By: /etc/apt/keyrings/pinery-test.asc"},
		{name: "converged", out: good, action: resource.NoOp},
		{name: "suite changed", out: file("sources", "644", "0", []byte(oldSources)) + file("asc", "644", "0", s.key.data) + "gpg=none\n",
			action: resource.Update, write: "sources", update: true, textDiff: "-Suites: bookworm\n+Suites: bookworm-updates"},
		{name: "key rotated", out: file("sources", "644", "0", s.content) + file("asc", "644", "0", oldKey.data) + "gpg=none\n",
			action: resource.Update, write: "asc", update: true, textDiff: "-",
			changes: "signing_key: " + old.fingerprint + " → " + k.fingerprint + " (/etc/apt/keyrings/pinery-test.asc); apt lists: → apt-get update of this source"},
		{name: "same key other bytes", out: file("sources", "644", "0", s.content) + file("asc", "644", "0", []byte(k.publicArmored)) + "gpg=none\n",
			action: resource.Update, write: "asc", update: true, changes: "same keys, other content"},
		{name: "key too big to fetch", out: file("sources", "644", "0", s.content) + "asc=file 644 0 0 999999 " + strings.Repeat("ab", 32) + "\ngpg=none\n",
			action: resource.Update, write: "asc", update: true, textDiff: "-", changes: "signing_key: unreadable key, 999999 bytes, sha256 abababababab →"},
		{name: "mode", out: file("sources", "600", "0", s.content) + file("asc", "644", "1000", s.key.data) + "gpg=none\n",
			action: resource.Update, write: "sources asc", update: true,
			changes: "sources mode: 0600 0:0 → 0644 0:0; signing_key mode: 0644 1000:0 → 0644 0:0; apt lists: → apt-get update of this source"},
		{name: "leftover binary key", out: good[:len(good)-len("gpg=none\n")] + file("gpg", "644", "0", k.public),
			action: resource.Update, remove: "gpg", textDiff: "-", changes: "signing_key: /etc/apt/keyrings/pinery-test.gpg → (removed)"},
		{name: "no update", src: newSource(t, "", with(base(k.publicArmored), "update", cty.False)), out: "sources=none\nasc=none\ngpg=none\n",
			action: resource.Create, write: "sources asc"},
		{name: "disabled: no update", src: newSource(t, "", with(base(k.publicArmored), "enabled", cty.False)), out: "sources=none\nasc=none\ngpg=none\n",
			action: resource.Create, write: "sources asc", textDiff: "+Enabled: no"},
		{name: "sensitive: no text diff", src: func() *Source {
			r, err := New(config(t, "", base(k.publicArmored), "uris"))
			if err != nil {
				t.Fatal(err)
			}
			return r.(*Source)
		}(), out: file("sources", "644", "0", []byte(oldSources)) + file("asc", "644", "0", s.key.data) + "gpg=none\n",
			action: resource.Update, write: "sources", update: true, changes: "sources: (sensitive)", textDiff: "-"},
		{name: "absent", src: newSource(t, "", map[string]cty.Value{"state": str("absent")}), out: good, action: resource.Delete,
			remove: "sources asc", textDiff: "-",
			changes: "sources: /etc/apt/sources.list.d/test.sources → (removed); signing_key: /etc/apt/keyrings/pinery-test.asc → (removed)"},
		{name: "absent, gone", src: newSource(t, "", map[string]cty.Value{"state": str("absent")}), out: "sources=none\nasc=none\ngpg=none\n", action: resource.NoOp},
		{name: "directory", out: "sources=dir\nasc=none\ngpg=none\n", err: "test.sources is a directory, not a regular file"},
		{name: "link", out: "sources=none\nasc=link\ngpg=none\n", err: "pinery-test.asc is a symbolic link"},
		{name: "leftover link", out: "sources=none\nasc=none\ngpg=link\n", err: "pinery-test.gpg is a symbolic link"},
		{name: "unreadable", out: "sources=unreadable\nasc=none\ngpg=none\n", err: "cannot read /etc/apt/sources.list.d/test.sources"},
		{name: "cut short", out: "sources=none\nasc=none\n", err: "no line for gpg"},
		{name: "bad line", out: "sources=file 644 0 0 x y\nasc=none\ngpg=none\n", err: "malformed"},
		{name: "bad base64", out: "sources=file 644 0 0 3 " + strings.Repeat("cd", 32) + "\nsources_base64=!!\nasc=none\ngpg=none\n", err: "malformed sources content"},
		{name: "stray content", out: "sources=none\nsources_base64=AA==\nasc=none\ngpg=none\n", err: "unexpected"},
		{name: "twice", out: "sources=none\nsources=none\nasc=none\ngpg=none\n", err: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := s
			if tt.src != nil {
				src = tt.src
			}
			d, err := src.Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v (%+v)", d.Action, tt.action, d.Changes)
			}
			if d.Empty() {
				return
			}
			var chs []string
			for _, c := range d.Changes {
				if c.Sensitive {
					chs = append(chs, c.Field+": (sensitive)")
					continue
				}
				c.Field += ":"
				if c.Old != "" {
					c.Field += " " + c.Old
				}
				chs = append(chs, c.Field+" → "+c.New)
			}
			got := strings.Join(chs, "; ")
			if tt.changes != "" && !strings.Contains(got, tt.changes) {
				t.Errorf("changes\n got %s\nwant %s", got, tt.changes)
			}
			p := d.Private.(*Private)
			if strings.Join(p.Write, " ") != tt.write || strings.Join(p.Remove, " ") != tt.remove || p.Update != tt.update {
				t.Errorf("private %+v, want write %q remove %q update %v", p, tt.write, tt.remove, tt.update)
			}
			if (tt.textDiff == "-" && d.TextDiff != "") || (tt.textDiff != "-" && !strings.Contains(d.TextDiff, tt.textDiff)) {
				t.Errorf("text diff\n%s\nwant it to contain %q", d.TextDiff, tt.textDiff)
			}
			if strings.Contains(got+d.TextDiff, "BEGIN PGP") {
				t.Error("the plan shows key content")
			}
		})
	}
}

func with(m map[string]cty.Value, k string, v cty.Value) map[string]cty.Value {
	m[k] = v
	return m
}
