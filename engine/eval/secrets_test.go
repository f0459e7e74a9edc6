package eval_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/crypto/ssh"

	"github.com/pinery/pinery/engine/config"
	"github.com/pinery/pinery/engine/eval"
)

// secret is the cleartext marker: it must never appear in a diagnostic.
const secret = "hunter2-s3cr3t"

const secretsSite = `
variable "password" {
  type = string
}
variable "port" {
  type    = number
  default = 1
}
variable "admins" {
  type    = list(string)
  default = []
}
variable "token" {
  type    = string
  default = "none"
  validation {
    condition     = can(regex("^[a-z]{1,4}$", var.token))
    error_message = "token ${var.token} is too long."
  }
}
variable "plain" {
  type    = string
  default = "visible"
}
`

// newIdentity generates an X25519 identity and writes it as age-keygen
// does (with comments).
func newIdentity(t *testing.T, dir string) (*age.X25519Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "key-"+id.Recipient().String()[4:12]+".txt")
	text := "# created: 2024-01-01T00:00:00Z\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return id, path
}

func encrypt(t *testing.T, cleartext string, armored bool, recs ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	var dst io.WriteCloser = nopCloser{&buf}
	if armored {
		dst = armor.NewWriter(&buf)
	}
	w, err := age.Encrypt(dst, recs...)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, cleartext)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func TestEncryptedVarFiles(t *testing.T) {
	dir := t.TempDir()
	siteDir := filepath.Join(dir, "site")
	os.MkdirAll(siteDir, 0o755)
	os.WriteFile(filepath.Join(siteDir, "main.hcl"), []byte(secretsSite), 0o644)
	site, diags := config.Load(siteDir, config.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}

	id, keyFile := newIdentity(t, dir)
	other, otherFile := newIdentity(t, dir)
	_ = other
	good := "password = \"" + secret + "\"\nport = 8080\nadmins = [\"ann\", \"bob\"]\n"

	// An SSH ed25519 key serves as an identity too.
	_, sshPriv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(sshPriv, "test")
	if err != nil {
		t.Fatal(err)
	}
	sshKeyFile := filepath.Join(dir, "id_ed25519")
	os.WriteFile(sshKeyFile, pem.EncodeToMemory(block), 0o600)
	sshPub, _ := ssh.NewPublicKey(sshPriv.Public())
	sshRec, err := agessh.NewEd25519Recipient(sshPub)
	if err != nil {
		t.Fatal(err)
	}
	// A passphrase-protected one is refused (pinery does not prompt).
	block, _ = ssh.MarshalPrivateKeyWithPassphrase(sshPriv, "test", []byte("pass"))
	lockedKeyFile := filepath.Join(dir, "id_locked")
	os.WriteFile(lockedKeyFile, pem.EncodeToMemory(block), 0o600)

	// The default identity file, under a fake home.
	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, ".config/pinery/age"), 0o700)
	keyText, _ := os.ReadFile(keyFile)
	os.WriteFile(filepath.Join(home, ".config/pinery/age/keys.txt"), keyText, 0o600)

	enc := encrypt(t, good, false, id.Recipient())
	truncated := enc[:len(enc)-10]
	flipped := bytes.Clone(enc)
	flipped[len(flipped)-20] ^= 1

	type want struct {
		password string // "" when not checked
		port     int64
		diag     string // summary of the expected error; "" for none
		detail   string // substring of its detail
		line     int    // its line, when it points into the file
	}
	tests := []struct {
		name    string
		file    string // var file name
		content []byte
		in      eval.Inputs
		want    want
	}{
		{"binary", "s.hcl.age", enc, eval.Inputs{AgeIdentities: []string{keyFile}}, want{password: secret, port: 8080}},
		{"armored", "s.hcl.age", encrypt(t, good, true, id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}}, want{password: secret, port: 8080}},
		{"armored with leading newline", "s.hcl", append([]byte("\n"), encrypt(t, good, true, id.Recipient())...), eval.Inputs{AgeIdentities: []string{keyFile}}, want{password: secret, port: 8080}},
		{"detected by content", "secrets.hcl", enc, eval.Inputs{AgeIdentities: []string{keyFile}}, want{password: secret, port: 8080}},
		{"one of several identities", "s.hcl.age", enc, eval.Inputs{AgeIdentities: []string{otherFile, keyFile}}, want{password: secret, port: 8080}},
		{"identity file from env", "s.hcl.age", enc, eval.Inputs{Env: []string{"PINERY_AGE_IDENTITY_FILE=" + keyFile}}, want{password: secret, port: 8080}},
		{"identity from env", "s.hcl.age", enc, eval.Inputs{Env: []string{"PINERY_AGE_IDENTITY=" + id.String()}}, want{password: secret, port: 8080}},
		{"default identity file", "s.hcl.age", enc, eval.Inputs{Env: []string{"HOME=" + home}}, want{password: secret, port: 8080}},
		{"ssh ed25519 identity", "s.hcl.age", encrypt(t, good, false, sshRec), eval.Inputs{AgeIdentities: []string{sshKeyFile}}, want{password: secret, port: 8080}},
		{"recipients of several", "s.hcl.age", encrypt(t, good, false, other.Recipient(), id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}}, want{password: secret, port: 8080}},

		{"no identity", "s.hcl.age", enc, eval.Inputs{Env: []string{"HOME=" + dir}},
			want{diag: "No age identity to decrypt the variable file", detail: "Give --age-identity FILE or set PINERY_AGE_IDENTITY_FILE"}},
		{"wrong identity", "s.hcl.age", enc, eval.Inputs{AgeIdentities: []string{otherFile}},
			want{diag: "No age identity matches the variable file", detail: "--age-identity " + otherFile}},
		{"explicit identity replaces the default", "s.hcl.age", enc, eval.Inputs{AgeIdentities: []string{otherFile}, Env: []string{"HOME=" + home}},
			want{diag: "No age identity matches the variable file"}},
		{"missing identity file", "s.hcl.age", enc, eval.Inputs{AgeIdentities: []string{filepath.Join(dir, "nope.txt")}},
			want{diag: "Invalid age identity", detail: "no such file"}},
		{"not an identity", "s.hcl.age", enc, eval.Inputs{Env: []string{"PINERY_AGE_IDENTITY=" + id.Recipient().String()}},
			want{diag: "Invalid age identity", detail: "PINERY_AGE_IDENTITY: error at line 1"}},
		{"passphrase-protected ssh key", "s.hcl.age", enc, eval.Inputs{AgeIdentities: []string{lockedKeyFile}},
			want{diag: "Invalid age identity", detail: "passphrase-protected SSH keys are not supported"}},
		{"not an age file", "s.hcl.age", []byte("password = \"" + secret + "\"\n"), eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Cannot decrypt the variable file", detail: "not a valid age file"}},
		{"truncated", "s.hcl.age", truncated, eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Cannot decrypt the variable file"}},
		{"damaged", "s.hcl.age", flipped, eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Cannot decrypt the variable file"}},
		{"syntax error", "s.hcl.age", encrypt(t, "port = 1\npassword = \""+secret+"\n", false, id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Unterminated template string", detail: "details are not shown", line: 2}},
		{"syntax error after the secret", "s.hcl.age", encrypt(t, "password = \""+secret+"\" "+secret+"\n", false, id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Missing newline after argument", line: 1}},
		{"block quoting a secret", "s.hcl.age", encrypt(t, "password = \"x\"\n"+strings.ReplaceAll(secret, "-", "_")+" \"label\" {}\n", false, id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Invalid content in an encrypted variable file", line: 2}},
		{"expression error", "s.hcl.age", encrypt(t, "password = upper(\""+secret+"\")\n", false, id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Function calls not allowed", line: 1}},
		{"wrong type", "s.hcl.age", encrypt(t, "password = \"x\"\nport = \""+secret+"\"\n", false, id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Invalid value for variable"}},
		{"validation message built from the secret", "s.hcl.age", encrypt(t, "password = \"x\"\ntoken = \""+secret+"\"\n", false, id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: `Invalid value for variable "token"`, detail: "The value is not valid."}},
		{"undeclared variable", "s.hcl.age", encrypt(t, "password = \"x\"\npasword = \""+secret+"\"\n", false, id.Recipient()), eval.Inputs{AgeIdentities: []string{keyFile}},
			want{diag: "Value for undeclared variable", detail: `"pasword"`, line: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			in := tt.in
			in.VarFiles = []string{path}
			vars, diags := eval.Variables(site, in)
			for _, d := range diags {
				if strings.Contains(d.Summary+d.Detail, secret) || strings.Contains(d.Summary+d.Detail, strings.ReplaceAll(secret, "-", "_")) {
					t.Errorf("diagnostic leaks the cleartext: %s: %s", d.Summary, d.Detail)
				}
				if (d.Expression != nil || d.EvalContext != nil) && d.Subject != nil && d.Subject.Filename == path {
					t.Errorf("diagnostic keeps the decrypted expression: %s", d.Summary)
				}
			}
			if tt.want.diag == "" {
				if diags.HasErrors() {
					t.Fatalf("unexpected errors: %v", diags)
				}
				checkSecretValues(t, vars, tt.want.password, tt.want.port)
				return
			}
			var found *hcl.Diagnostic
			for _, d := range diags {
				if d.Severity == hcl.DiagError && d.Summary == tt.want.diag {
					found = d
				}
			}
			if found == nil {
				t.Fatalf("want error %q, got %v", tt.want.diag, diags)
			}
			if !strings.Contains(found.Detail, tt.want.detail) {
				t.Errorf("detail %q lacks %q", found.Detail, tt.want.detail)
			}
			if tt.want.line != 0 && (found.Subject == nil || found.Subject.Filename != path || found.Subject.Start.Line != tt.want.line) {
				t.Errorf("subject %v, want %s line %d", found.Subject, path, tt.want.line)
			}
		})
	}
}

// checkSecretValues: every value from the encrypted file is sensitive, even
// where the declaration does not say so; the others are not.
func checkSecretValues(t *testing.T, vars cty.Value, password string, port int64) {
	t.Helper()
	for _, name := range []string{"password", "port", "admins"} {
		if !vars.GetAttr(name).HasMark(eval.Sensitive) {
			t.Errorf("var.%s is not marked sensitive", name)
		}
	}
	for _, name := range []string{"token", "plain"} {
		if vars.GetAttr(name).IsMarked() {
			t.Errorf("var.%s (not in the encrypted file) is marked", name)
		}
	}
	pw, _ := vars.GetAttr("password").Unmark()
	if pw.AsString() != password {
		t.Errorf("password = %q", pw.AsString())
	}
	p, _ := vars.GetAttr("port").Unmark()
	if n, _ := p.AsBigFloat().Int64(); n != port {
		t.Errorf("port = %v", p)
	}
	admins, _ := vars.GetAttr("admins").Unmark()
	if admins.LengthInt() != 2 {
		t.Errorf("admins = %#v", admins)
	}
}

// A variable given in an encrypted file stays sensitive when a later
// source (--var, PINERY_VAR_) overrides its value; a later plain file does
// not unmark it either.
func TestEncryptedOverridden(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(secretsSite), 0o644)
	site, _ := config.Load(dir, config.Options{})
	id, keyFile := newIdentity(t, t.TempDir())
	enc := filepath.Join(t.TempDir(), "s.hcl.age")
	os.WriteFile(enc, encrypt(t, "password = \"a\"\nport = 2\n", false, id.Recipient()), 0o600)
	plain := filepath.Join(t.TempDir(), "p.hcl")
	os.WriteFile(plain, []byte("port = 3\nplain = \"p\"\n"), 0o600)
	vars, diags := eval.Variables(site, eval.Inputs{
		VarFiles:      []string{enc, plain},
		AgeIdentities: []string{keyFile},
		Vars:          map[string]string{"password": "b"},
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for name, sensitive := range map[string]bool{"password": true, "port": true, "plain": false} {
		if vars.GetAttr(name).HasMark(eval.Sensitive) != sensitive {
			t.Errorf("var.%s sensitive = %v, want %v", name, !sensitive, sensitive)
		}
	}
	pw, _ := vars.GetAttr("password").Unmark()
	if pw.AsString() != "b" {
		t.Errorf("--var did not override: %q", pw.AsString())
	}
}

// Identities are read only when an encrypted file needs them: a bad
// PINERY_AGE_IDENTITY_FILE does not break runs without secrets.
func TestIdentitiesLoadedOnlyWhenNeeded(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(secretsSite), 0o644)
	site, _ := config.Load(dir, config.Options{})
	_, diags := eval.Variables(site, eval.Inputs{
		Vars: map[string]string{"password": "x"},
		Env:  []string{"PINERY_AGE_IDENTITY_FILE=/nonexistent"},
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
}

func TestIsEncrypted(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want bool
	}{
		{"x.hcl.age", "", true},
		{"x.hcl", "age-encryption.org/v1\n-> X25519 abc\n", true},
		{"x.hcl", "\n-----BEGIN AGE ENCRYPTED FILE-----\n", true},
		{"x.hcl", "a = 1\n", false},
		{"x.hcl", "# age-encryption.org/v1\n", false},
	} {
		if got := eval.IsEncrypted(tt.name, []byte(tt.src)); got != tt.want {
			t.Errorf("IsEncrypted(%q, %q) = %v", tt.name, tt.src, got)
		}
	}
}
