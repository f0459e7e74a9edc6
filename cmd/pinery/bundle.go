package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/atomicfile"
	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/engine/bundle"
	"github.com/pinery/pinery/inventory"
)

// ageRecipientVar is the inventory host variable that names the age
// recipient a host's bundles encrypt secrets to.
const ageRecipientVar = "age_recipient"

// bundleIgnore are names never bundled: state, VCS, editor leftovers, and
// age files (their values reach the bundle through --var-file, re-encrypted).
var bundleIgnore = []string{".pinery", ".git", ".hg", ".svn", "*.age", "*~", ".*.swp", ".DS_Store"}

func newBundleCmd(g *globals) *cobra.Command {
	var out, signingKey, ver string
	cmd := &cobra.Command{
		Use:   "bundle -i INVENTORY -l HOSTS --signing-key KEY [SITE]",
		Short: "Pack a signed site bundle for hosts that pull it (pull mode)",
		Long: `bundle packs what the selected hosts need to apply the site by themselves
with "pinery pull" (docs/pull.md): every file of the site directory (but
.pinery/, .git/, *.age and editor leftovers), an inventory of the selected
hosts (their groups and merged vars, with connection = "local"), and the
variables' values as resolved here from defaults, --var-file, --var and
PINERY_VAR_*.

Sensitive values (from age-encrypted var files, or of sensitive variables)
are encrypted to the age recipients of the selected hosts: the inventory
host variable age_recipient (age1... or a host's ssh-ed25519 public key).
When a selected host has none, they are left out, with a note in the
manifest, and a pull of a site that needs them fails naming the variable.

It writes OUT (a deterministic tar.gz whose manifest lists every file's
SHA-256) and OUT.sig (the detached ed25519 signature by --signing-key, an
OpenSSH ed25519 private key without passphrase). The version is --version,
else the creation time and a content hash; the creation time is now, or
SOURCE_DATE_EPOCH for reproducible bundles. Boards refuse a bundle created
before the one they applied last.`,
		Example: `  pinery bundle -i inventory.hcl -l h2 --signing-key ~/.ssh/pinery_bundle -o h2.tar.gz site/
  pinery bundle -i inventory.hcl -l render --var-file secrets.hcl.age --version 2026.03.1 --signing-key ci.key -o render.tar.gz site/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if signingKey == "" {
				return fmt.Errorf("--signing-key is required: an OpenSSH ed25519 private key (ssh-keygen -t ed25519 -f bundle.key)")
			}
			if ver != "" {
				if err := bundle.CheckVersion(ver); err != nil {
					return err
				}
			}
			pem, err := os.ReadFile(signingKey)
			if err != nil {
				return fmt.Errorf("--signing-key: %w", err)
			}
			key, err := bundle.ParseSigningKey(pem)
			clear(pem)
			if err != nil {
				return fmt.Errorf("--signing-key %s: %w", signingKey, err)
			}
			siteDir := siteArg(args)
			inv, hosts, diags := g.loadInventory()
			if g.writeDiags(diags) {
				return exitError{1}
			}
			if len(hosts) == 0 {
				return fmt.Errorf("no host selected: give -l HOSTS (a bundle is made for the hosts that will pull it)")
			}
			r, ok := g.loadBundled(siteDir, inv)
			if !ok {
				return exitError{1}
			}
			defer r.Close()
			files, notes, ok := g.bundleFiles(siteDir, r, hosts)
			if !ok {
				return exitError{1}
			}
			carried, ok := g.bundleOutputs(r, hosts)
			if !ok {
				return exitError{1}
			}
			files = append(files, carried...)
			site, err := backend.SiteOf(context.Background(), siteDir)
			if err != nil {
				return err
			}
			created, err := bundleTime()
			if err != nil {
				return err
			}
			m := bundle.Manifest{Version: ver, Created: created, Site: site.ID, Commit: site.Commit, Dirty: site.Dirty, Pinery: version, Notes: notes}
			for _, h := range hosts {
				m.Hosts = append(m.Hosts, h.Name)
			}
			archive, m, err := bundle.Pack(m, files)
			if err != nil {
				return fmt.Errorf("packing the bundle: %w", err)
			}
			sig, err := bundle.Sign(archive, m, key)
			if err != nil {
				return fmt.Errorf("signing the bundle: %w", err)
			}
			if err := atomicfile.Write(out, archive, 0o644); err != nil {
				return err
			}
			if err := atomicfile.Write(out+".sig", sig, 0o644); err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintf(g.stderr, "Note: %s.\n", n)
			}
			s, _ := bundle.ParseSignature(sig)
			fmt.Fprintf(g.stdout, "Bundle %s for %s: %s, %d bytes, signed by %s.\nWrote %s and %s.\n",
				m.Version, strings.Join(m.Hosts, ", "), plural(len(m.Files), "file", "files"), len(archive), s.Key, out, out+".sig")
			return nil
		},
	}
	addVarFlags(cmd, g)
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "bundle.tar.gz", "write the bundle here, and its signature to OUT.sig")
	f.StringVar(&signingKey, "signing-key", "", "OpenSSH ed25519 private key that signs the bundle (no passphrase)")
	f.StringVar(&ver, "version", "", "the bundle's version (default: creation time and content hash, e.g. 20260301T100000Z-3f2a9c41d07e)")
	return cmd
}

// bundleTime is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func bundleTime() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
	}
	return time.Unix(n, 0), nil
}

// loadBundled loads the site with its variables' values as resolved here,
// for the whole inventory with no host selected: bundleFiles takes the
// values from it, and bundleOutputs evaluates every host read offline,
// from the site and the facts cached on this machine.
func (g *globals) loadBundled(siteDir string, inv *inventory.Inventory) (*engine.Run, bool) {
	in, diags := g.inputs()
	if g.writeDiags(diags) {
		return nil, false
	}
	lib, diags := library()
	if g.writeDiags(diags) {
		return nil, false
	}
	r, diags := engine.Load(engine.Options{SiteDir: siteDir, Inputs: in, Library: lib, Inventory: inv, FactsCache: factsCacheDir()})
	if g.writeDiags(diags, r.Site.Parser) {
		return nil, false
	}
	return r, true
}

// bundleFiles collects the bundle's files: the site, the hosts' inventory,
// and the variables' values (sensitive ones encrypted, or left out with a
// note).
func (g *globals) bundleFiles(siteDir string, r *engine.Run, hosts []*inventory.Host) ([]bundle.File, []string, bool) {
	files, err := siteFiles(siteDir)
	if err != nil {
		g.writeDiags(errorDiag("Cannot bundle the site", err.Error()+"."))
		return nil, nil, false
	}
	site, vars := r.Site, r.Variables()
	plain, secret := hclwrite.NewEmptyFile(), hclwrite.NewEmptyFile()
	var secretNames []string
	for _, v := range site.Variables {
		val := vars.GetAttr(v.Name)
		if plainVal, _ := val.UnmarkDeep(); v.Default != cty.NilVal && plainVal.RawEquals(v.Default) {
			continue // the bundled site has its default
		}
		if val.ContainsMarked() {
			val, _ = val.UnmarkDeep()
			secret.Body().SetAttributeValue(v.Name, val)
			secretNames = append(secretNames, v.Name)
			continue
		}
		plain.Body().SetAttributeValue(v.Name, val)
	}
	files = append(files, bundle.File{Path: "vars.hcl", Data: plain.Bytes()},
		bundle.File{Path: "inventory.hcl", Data: bundleInventory(hosts)})
	var notes []string
	if len(secretNames) > 0 {
		recs, missing, err := ageRecipients(hosts)
		switch {
		case err != nil:
			g.writeDiags(errorDiag("Invalid "+ageRecipientVar, err.Error()+"."))
			return nil, nil, false
		case len(missing) > 0:
			notes = append(notes, fmt.Sprintf("the values of the sensitive variables %s are left out: %s %s no %s host variable to encrypt them to",
				strings.Join(secretNames, ", "), strings.Join(missing, ", "), map[bool]string{true: "has", false: "have"}[len(missing) == 1], ageRecipientVar))
		default:
			enc, err := ageEncrypt(secret.Bytes(), recs)
			if err != nil {
				g.writeDiags(errorDiag("Cannot encrypt the bundle's secrets", err.Error()+"."))
				return nil, nil, false
			}
			files = append(files, bundle.File{Path: "secrets.hcl.age", Data: enc})
		}
	}
	return files, notes, true
}

func ageEncrypt(plain []byte, recs []age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recs...)
	if err == nil {
		_, err = w.Write(plain)
	}
	if err == nil {
		err = w.Close()
	}
	return buf.Bytes(), err
}

// bundleOutputs evaluates here the role outputs of other hosts that the
// bundled hosts read (`outputs.ROLE`): a board has neither those hosts nor
// their facts (docs/pull.md). The bundle carries them in outputs.json, or,
// when some are sensitive, in outputs.json.age, encrypted to the hosts'
// age recipients like the sensitive variables.
func (g *globals) bundleOutputs(r *engine.Run, hosts []*inventory.Host) ([]bundle.File, bool) {
	byHost := map[string]cty.Value{}
	for _, h := range hosts {
		v, err := r.OutputsOf(h)
		if err != nil {
			g.writeDiags(errorDiag("Cannot bundle what "+h.Name+" reads from other hosts",
				fmt.Sprintf("%v. A board cannot evaluate other hosts: the bundle carries the outputs it reads, evaluated here (docs/pull.md).", err)))
			return nil, false
		}
		if v != cty.NilVal {
			byHost[h.Name] = v
		}
	}
	if len(byHost) == 0 {
		return nil, true
	}
	data, sensitive, err := engine.MarshalOutputs(byHost)
	if err != nil {
		g.writeDiags(errorDiag("Cannot bundle the outputs of other hosts", err.Error()+"."))
		return nil, false
	}
	if !sensitive {
		return []bundle.File{{Path: "outputs.json", Data: data}}, true
	}
	defer clear(data)
	recs, missing, err := ageRecipients(hosts)
	if err == nil && len(missing) > 0 {
		err = fmt.Errorf("some of the outputs they read from other hosts are sensitive, and %s %s no %s host variable to encrypt them to",
			strings.Join(missing, ", "), map[bool]string{true: "has", false: "have"}[len(missing) == 1], ageRecipientVar)
	}
	var enc []byte
	if err == nil {
		enc, err = ageEncrypt(data, recs)
	}
	if err != nil {
		g.writeDiags(errorDiag("Cannot bundle the outputs of other hosts", err.Error()+"."))
		return nil, false
	}
	return []bundle.File{{Path: "outputs.json.age", Data: enc}}, true
}

// ageRecipients are the hosts' age recipients; missing names hosts without one.
func ageRecipients(hosts []*inventory.Host) (recs []age.Recipient, missing []string, err error) {
	for _, h := range hosts {
		v, ok := h.Vars[ageRecipientVar]
		if !ok || v.IsNull() {
			missing = append(missing, h.Name)
			continue
		}
		if !v.Type().Equals(cty.String) || !v.IsKnown() {
			return nil, nil, fmt.Errorf("host %s: %s must be a string (age1... or ssh-ed25519 ...)", h.Name, ageRecipientVar)
		}
		r, err := parseRecipient(strings.TrimSpace(v.AsString()))
		if err != nil {
			return nil, nil, fmt.Errorf("host %s: %s: %v", h.Name, ageRecipientVar, err)
		}
		recs = append(recs, r)
	}
	return recs, missing, nil
}

// bundleInventory is the inventory a board reads: the bundled hosts, local,
// with their groups and merged vars.
func bundleInventory(hosts []*inventory.Host) []byte {
	f := hclwrite.NewEmptyFile()
	f.Body().AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# Written by pinery bundle: the hosts this bundle is for, applied where pulled.\n")}})
	for _, h := range hosts {
		b := f.Body().AppendNewBlock("host", []string{h.Name}).Body()
		b.SetAttributeValue("connection", cty.StringVal("local"))
		var groups []cty.Value
		for _, gr := range h.Groups {
			if gr != inventory.AllGroup {
				groups = append(groups, cty.StringVal(gr))
			}
		}
		if len(groups) > 0 {
			b.SetAttributeValue("groups", cty.ListVal(groups))
		}
		if len(h.Vars) > 0 {
			b.SetAttributeValue("vars", h.VarsValue())
		}
	}
	return f.Bytes()
}

// siteFiles reads every file under dir but the ignored ones, following
// symlinks to files.
func siteFiles(dir string) ([]bundle.File, error) {
	var files []bundle.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(p) // follows a symlink
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (or a symlink to one): bundles hold files only", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, bundle.File{Path: path.Join("site", filepath.ToSlash(rel)), Exec: st.Mode()&0o111 != 0, Data: data})
		return nil
	})
	return files, err
}

func ignored(name string) bool {
	return slices.ContainsFunc(bundleIgnore, func(pat string) bool {
		ok, _ := path.Match(pat, name)
		return ok
	})
}
