package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

// A value from an age-encrypted var file reaches the host, and never the
// plan (text or JSON), even though its variable is not declared sensitive:
// not when the file is created, not when the secret changes.
func TestEncryptedVarFilePlan(t *testing.T) {
	const secret1, secret2 = "s3cr3t-from-age-file", "r0tated-s3cr3t-value"
	target := t.TempDir()
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	os.MkdirAll(site, 0o755)
	os.WriteFile(filepath.Join(site, "main.hcl"), []byte(`
variable "root" { type = string }
variable "db_password" { type = string }
file "db" {
  path    = "${var.root}/db.conf"
  content = "password=${var.db_password}\n"
  mode    = "0600"
}
`), 0o644)

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "keys.txt")
	os.WriteFile(keyFile, []byte("# test key\n"+id.String()+"\n"), 0o600)
	varFile := filepath.Join(dir, "secrets.hcl.age")
	writeEncrypted := func(cleartext string) {
		var buf bytes.Buffer
		a := armor.NewWriter(&buf)
		w, err := age.Encrypt(a, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(cleartext))
		w.Close()
		a.Close()
		if err := os.WriteFile(varFile, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func() *engine.Run {
		r, diags := engine.Load(engine.Options{
			SiteDir: site,
			Hosts:   []*inventory.Host{{Name: "local", Address: "localhost", Groups: []string{"all"}}},
			Inputs: eval.Inputs{
				Vars:          map[string]string{"root": target},
				VarFiles:      []string{varFile},
				AgeIdentities: []string{keyFile},
			},
			Dial: func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
				return transport.NewLocal(), nil
			},
		})
		if diags.HasErrors() {
			t.Fatalf("load: %s", diags.Error())
		}
		t.Cleanup(r.Close)
		return r
	}
	planShows := func(r *engine.Run, want string, secrets ...string) {
		t.Helper()
		p, diags := r.Plan(context.Background())
		if diags.HasErrors() || p.HasErrors() {
			t.Fatalf("plan: %v %v", diags, p.Hosts[0].Error)
		}
		var text, js strings.Builder
		if err := p.WriteText(&text, planStyle()); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, text.String())
		}
		for _, s := range secrets {
			if strings.Contains(text.String(), s) {
				t.Errorf("plan text shows the secret %q:\n%s", s, text.String())
			}
			if strings.Contains(js.String(), s) {
				t.Errorf("JSON plan shows the secret %q:\n%s", s, js.String())
			}
		}
	}

	writeEncrypted(`db_password = "` + secret1 + `"` + "\n")
	r := load()
	planShows(r, "+ file.db", secret1)
	res := r.Apply(context.Background(), func(engine.Event) {})
	if res[0].Failed != 0 || res[0].Err != nil {
		t.Fatalf("apply: %+v", res)
	}
	if got, _ := os.ReadFile(filepath.Join(target, "db.conf")); string(got) != "password="+secret1+"\n" {
		t.Fatalf("db.conf = %q", got)
	}

	// The secret changes: the update is planned, neither value is shown
	// (the old one is read from the host).
	writeEncrypted(`db_password = "` + secret2 + `"` + "\n")
	planShows(load(), "~ file.db", secret1, secret2)
}
