package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/spf13/cobra"

	"github.com/pinery/pinery/engine/atomicfile"
	"github.com/pinery/pinery/engine/eval"
)

func newSecretsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Work with age-encrypted variable files",
		Long: `Variable files encrypted with age (https://age-encryption.org) are given to
plan, apply and validate with --var-file like the others and decrypted in
memory with --age-identity. See "Secrets" in docs/language.md.`,
	}
	cmd.AddCommand(newSecretsEncryptCmd(g))
	return cmd
}

func newSecretsEncryptCmd(g *globals) *cobra.Command {
	var recipients, recipientFiles []string
	var armored bool
	cmd := &cobra.Command{
		Use:   "encrypt -r RECIPIENT [-R FILE] IN OUT",
		Short: "Encrypt a variable file with age",
		Long: `encrypt checks that IN is a valid HCL variable file and writes it to OUT
encrypted to the recipients (age1..., or SSH ed25519/RSA public keys), as age -r
does. Only ciphertext is written. The cleartext IN is left alone: delete it
once OUT is in place.`,
		Example: `  pinery secrets encrypt -r age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p secrets.hcl secrets.hcl.age
  pinery secrets encrypt -R team.pub -a secrets.hcl secrets.hcl.age`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, out := args[0], args[1]
			recs, err := parseRecipients(recipients, recipientFiles)
			if err != nil {
				g.writeDiags(errorDiag("Invalid recipient", err.Error()))
				return exitError{1}
			}
			src, err := os.ReadFile(in)
			if err != nil {
				g.writeDiags(errorDiag("Cannot read the variable file", err.Error()+"."))
				return exitError{1}
			}
			defer clear(src)
			if eval.IsEncrypted(in, src) {
				g.writeDiags(errorDiag("Already encrypted", in+" is an age file already. Give the cleartext variable file."))
				return exitError{1}
			}
			// A syntax error is found now rather than later, inside the
			// ciphertext. It is reported by position and summary only: the
			// file holds secrets, so no line of it is shown.
			f, diags := hclsyntax.ParseConfig(src, in, hcl.InitialPos)
			if !diags.HasErrors() {
				_, diags = f.Body.JustAttributes()
			}
			for _, d := range diags {
				writeDiag(g.stderr, &hcl.Diagnostic{
					Severity: d.Severity,
					Summary:  d.Summary,
					Detail:   "Fix the file and encrypt it again (its lines are not shown, as it holds secrets).",
					Subject:  d.Subject,
				}, nil, g.style())
			}
			if diags.HasErrors() {
				return exitError{1}
			}
			var buf bytes.Buffer
			var dst io.WriteCloser = nopCloser{&buf}
			if armored {
				dst = armor.NewWriter(&buf)
			}
			w, err := age.Encrypt(dst, recs...)
			if err != nil {
				g.writeDiags(errorDiag("Cannot encrypt", err.Error()+"."))
				return exitError{1}
			}
			if _, err := w.Write(src); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			if err := dst.Close(); err != nil {
				return err
			}
			if err := atomicfile.Write(out, buf.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Encrypted %s to %s for %s.\n", in, out, plural(len(recs), "recipient", "recipients"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&recipients, "recipient", "r", nil, "encrypt to this recipient: age1..., ssh-ed25519 ..., ssh-rsa ... (repeatable)")
	f.StringArrayVarP(&recipientFiles, "recipients-file", "R", nil, "encrypt to the recipients listed in FILE, one per line, # comments (repeatable)")
	f.BoolVarP(&armored, "armor", "a", false, "write PEM-armored text instead of binary")
	return cmd
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// parseRecipients reads -r values and -R files; at least one is needed.
func parseRecipients(args, files []string) ([]age.Recipient, error) {
	var recs []age.Recipient
	for i, a := range args {
		r, err := parseRecipient(strings.TrimSpace(a))
		if err != nil { // the value is not quoted: it could be a private key
			return nil, fmt.Errorf("recipient %d (-r): %v", i+1, err)
		}
		recs = append(recs, r)
	}
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			r, err := parseRecipient(line)
			if err != nil {
				fh.Close()
				return nil, fmt.Errorf("%s:%d: %v", name, n, err)
			}
			recs = append(recs, r)
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no recipient given: give -r RECIPIENT or -R FILE (age-keygen -y KEYFILE prints a key's recipient)")
	}
	return recs, nil
}

func parseRecipient(s string) (age.Recipient, error) {
	switch {
	case strings.HasPrefix(s, "AGE-"):
		return nil, fmt.Errorf("this is an identity (a private key), not a recipient: age-keygen -y KEYFILE prints its recipient")
	case strings.HasPrefix(s, "age1pq1"):
		return age.ParseHybridRecipient(s)
	case strings.HasPrefix(s, "age1"):
		return age.ParseX25519Recipient(s)
	case strings.HasPrefix(s, "ssh-"):
		return agessh.ParseRecipient(s)
	}
	return nil, fmt.Errorf("not an age recipient (age1...) or an SSH public key (ssh-ed25519 ..., ssh-rsa ...)")
}
