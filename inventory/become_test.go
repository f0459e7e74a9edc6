package inventory

import (
	"strings"
	"testing"
)

// become_password is set in defaults or per host (the host wins), and
// never for root, who needs no sudo.
func TestBecomePassword(t *testing.T) {
	inv, diags := Parse([]byte(`
defaults {
  user            = "ops"
  become_password = true
}
host "a" {}
host "b" { become_password = false }
host "c" { user = "root" }
host "d" {
  user            = "deploy"
  become_password = null
}
`), "inv.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want := map[string]bool{"a": true, "b": false, "c": false, "d": true}
	for name, w := range want {
		h, _ := inv.Host(name)
		if h.BecomePassword != w {
			t.Errorf("%s: BecomePassword = %v, want %v", name, h.BecomePassword, w)
		}
	}

	inv, diags = Parse([]byte(`host "a" { user = "ops" }`), "inv.hcl")
	if h, _ := inv.Host("a"); diags.HasErrors() || h.BecomePassword {
		t.Errorf("default: %v %v", h.BecomePassword, diags)
	}
}

func TestBecomePasswordErrors(t *testing.T) {
	for src, want := range map[string]string{
		`defaults { become_password = "yes" }`: "become_password must be true or false",
		`host "a" { become_password = 1 }`:     "inv.hcl:1,30-31",
		`host "a" { become_password = var.x }`: "Reference in inventory",
	} {
		_, diags := Parse([]byte(src), "inv.hcl")
		if !diags.HasErrors() {
			t.Errorf("%s: no error", src)
			continue
		}
		var b strings.Builder
		for _, d := range diags {
			b.WriteString(d.Subject.String() + ": " + d.Detail + "\n")
		}
		if !strings.Contains(b.String()+diags.Error(), want) {
			t.Errorf("%s: %s\nwant %q", src, b.String(), want)
		}
	}
}
