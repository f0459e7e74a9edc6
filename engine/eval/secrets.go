package eval

// Age-encrypted variable files (https://age-encryption.org). A --var-file
// that is age-encrypted is decrypted in memory, on the controller only, and
// read as an HCL var file like the others. The cleartext is never written
// anywhere: not to disk, not to a diagnostic (no source snippet, no detail
// that could quote it), not to the parser whose files the CLI shows as
// snippets. Every value read from such a file is marked sensitive.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"golang.org/x/crypto/ssh"
)

// Environment variables that give age identities: a file, or the identity
// text itself (for CI secret stores).
const (
	EnvAgeIdentityFile = "PINERY_AGE_IDENTITY_FILE"
	EnvAgeIdentity     = "PINERY_AGE_IDENTITY"
)

// DefaultAgeIdentityFile is where identities are looked up, under the user's
// config directory ($XDG_CONFIG_HOME, else ~/.config), when none is given.
const DefaultAgeIdentityFile = "pinery/age/keys.txt"

const (
	ageMagic = "age-encryption.org/v1"
	// maxSecretFile bounds what is decrypted into memory.
	maxSecretFile = 16 << 20
	// maxIdentityFile bounds an identity file (age's own limit for keys).
	maxIdentityFile = 1 << 24
)

const identityHint = "Give --age-identity FILE or set " + EnvAgeIdentityFile + " (or " + EnvAgeIdentity + " to the identity itself, or put it in ~/.config/" + DefaultAgeIdentityFile + ")."

// IsEncrypted reports whether a var file is age-encrypted: its name ends in
// .age, or it starts with the age header (binary or armored). The CLI uses
// it too, to never show a source snippet of such a file.
func IsEncrypted(name string, src []byte) bool {
	return strings.HasSuffix(name, ".age") || bytes.HasPrefix(src, []byte(ageMagic)) || isArmored(src)
}

func isArmored(src []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(src, " \t\r\n"), []byte(armor.Header))
}

// keyring loads the identities once per run, and only when an encrypted
// file needs them.
type keyring struct {
	in      Inputs
	loaded  bool
	ids     []age.Identity
	sources []string // where the identities came from, for messages
	diags   hcl.Diagnostics
}

func (k *keyring) identities() ([]age.Identity, hcl.Diagnostics) {
	if k.loaded {
		return k.ids, nil // load errors are reported once
	}
	k.loaded = true
	add := func(source string, ids []age.Identity, err error) {
		if err != nil {
			k.diags = append(k.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid age identity",
				Detail:   fmt.Sprintf("%s: %v. An identity is an age-keygen key file (AGE-SECRET-KEY-1..., # comments allowed) or an unencrypted SSH ed25519 or RSA private key.", source, err),
			})
			return
		}
		k.ids = append(k.ids, ids...)
		k.sources = append(k.sources, source)
	}
	for _, f := range k.in.AgeIdentities {
		ids, err := readIdentityFile(f)
		add("--age-identity "+f, ids, err)
	}
	if f := lookupEnv(k.in.Env, EnvAgeIdentityFile); f != "" {
		ids, err := readIdentityFile(f)
		add(EnvAgeIdentityFile+"="+f, ids, err)
	}
	if s := lookupEnv(k.in.Env, EnvAgeIdentity); strings.TrimSpace(s) != "" {
		ids, err := parseIdentities([]byte(s))
		add(EnvAgeIdentity, ids, err)
	}
	if len(k.sources) == 0 && len(k.diags) == 0 {
		if f := defaultIdentityFile(k.in.Env); f != "" {
			if _, err := os.Stat(f); err == nil {
				ids, err := readIdentityFile(f)
				add(f, ids, err)
			}
		}
	}
	return k.ids, k.diags
}

// defaultIdentityFile is $XDG_CONFIG_HOME/pinery/age/keys.txt, else
// $HOME/.config/pinery/age/keys.txt; "" when neither is set.
func defaultIdentityFile(env []string) string {
	if d := lookupEnv(env, "XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, DefaultAgeIdentityFile)
	}
	if h := lookupEnv(env, "HOME"); h != "" {
		return filepath.Join(h, ".config", DefaultAgeIdentityFile)
	}
	return ""
}

// lookupEnv finds name in a KEY=value list (the last one wins, as in exec).
func lookupEnv(env []string, name string) string {
	val := ""
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			val = v
		}
	}
	return val
}

func readIdentityFile(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Unwrap(err) // the source already names the file
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return nil, err
	}
	if len(src) > maxIdentityFile {
		return nil, errors.New("the file is too large for an identity file")
	}
	defer clear(src)
	return parseIdentities(src)
}

// parseIdentities reads age identities (one per line, # comments) or one
// SSH private key in PEM form. Errors never quote the key material.
func parseIdentities(src []byte) ([]age.Identity, error) {
	trimmed := bytes.TrimSpace(src)
	switch {
	case IsEncrypted("", trimmed):
		return nil, errors.New("passphrase-protected identity files are not supported (pinery does not prompt); decrypt it to a file readable only by you, or give the identity through " + EnvAgeIdentity)
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN")):
		id, err := agessh.ParseIdentity(trimmed)
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, errors.New("passphrase-protected SSH keys are not supported (pinery does not prompt); use an age-keygen identity or an SSH key without a passphrase")
		}
		if err != nil {
			return nil, fmt.Errorf("not a usable SSH private key (%v)", err)
		}
		return []age.Identity{id}, nil
	}
	for _, line := range strings.Split(string(trimmed), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "AGE-PLUGIN-") {
			return nil, errors.New("age plugin identities are not supported")
		}
	}
	return age.ParseIdentities(bytes.NewReader(trimmed))
}

// DecryptFile decrypts an age-encrypted file that is not a var file (a
// pull bundle's carried outputs) into memory, with in's identities.
func DecryptFile(path string, src []byte, in Inputs) ([]byte, hcl.Diagnostics) {
	return decryptVarFile(path, src, &keyring{in: in})
}

// decryptVarFile decrypts an encrypted var file into memory. The caller
// clears the returned cleartext when done with it.
func decryptVarFile(path string, src []byte, k *keyring) ([]byte, hcl.Diagnostics) {
	subject := &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}
	ids, diags := k.identities()
	if diags.HasErrors() {
		return nil, diags
	}
	if len(ids) == 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No age identity to decrypt the variable file",
			Detail:   fmt.Sprintf("%s is age-encrypted and no identity was given. %s", path, identityHint),
			Subject:  subject,
		}}
	}
	var r io.Reader = bytes.NewReader(src)
	if isArmored(src) {
		r = armor.NewReader(r)
	}
	corrupt := func(err error) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot decrypt the variable file",
			Detail:   fmt.Sprintf("%s is not a valid age file, or it is damaged or truncated (%v). Encrypt it again from the cleartext: age -r RECIPIENT -o %s FILE.", path, err, path),
			Subject:  subject,
		}}
	}
	pr, err := age.Decrypt(r, ids...)
	var noMatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &noMatch):
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No age identity matches the variable file",
			Detail: fmt.Sprintf("None of the identities given (%s) can decrypt %s: it is encrypted to other recipients. Give the identity it was encrypted to (age-keygen -y KEYFILE prints a key's recipient), or encrypt it again to your recipient.",
				strings.Join(k.sources, ", "), path),
			Subject: subject,
		}}
	case err != nil:
		return nil, corrupt(err)
	}
	plain, err := io.ReadAll(io.LimitReader(pr, maxSecretFile+1))
	if err == nil && len(plain) > maxSecretFile {
		err = fmt.Errorf("larger than %d MiB", maxSecretFile>>20)
	}
	if err != nil {
		clear(plain) // chunks before the damage were authentic: drop them too
		return nil, corrupt(err)
	}
	return plain, nil
}

// readEncryptedVarFile decrypts a var file and evaluates its attributes.
// Its diagnostics keep the position and summary only: no snippet can be
// shown (the source is not kept) and no detail, which could quote the
// cleartext.
func readEncryptedVarFile(path string, src []byte, k *keyring) ([]assignment, hcl.Diagnostics) {
	plain, diags := decryptVarFile(path, src, k)
	if diags.HasErrors() {
		return nil, diags
	}
	defer clear(plain)
	// hclsyntax directly: no hclparse.Parser, so the cleartext is in no file
	// map that diagnostics are rendered from.
	f, diags := hclsyntax.ParseConfig(plain, path, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, redact(diags, path)
	}
	as, d := assignments(f.Body)
	return as, redact(append(diags, d...), path)
}

// redact rewrites diagnostics about decrypted content: the range and the
// summary stay (a summary that quotes anything is replaced), the detail is
// a hint, and the expression and context that point at the cleartext go.
func redact(diags hcl.Diagnostics, path string) hcl.Diagnostics {
	out := make(hcl.Diagnostics, 0, len(diags))
	for _, d := range diags {
		summary := d.Summary
		if strings.ContainsAny(summary, "\"'`") {
			summary = "Invalid content in an encrypted variable file"
		}
		out = append(out, &hcl.Diagnostic{
			Severity: d.Severity,
			Summary:  summary,
			Detail: fmt.Sprintf("This is in the decrypted content of %s; details are not shown because they could quote a secret. Decrypt it (age -d -i KEYFILE %s) to see and fix it, then encrypt it again.",
				path, path),
			Subject: d.Subject,
		})
	}
	return out
}
