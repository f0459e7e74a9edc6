package aptrepo

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const resourceDoc = `Publishes a signed apt repository on the target (the repo host), in
` + "`path`" + `, for a web server there (nginx, say) to serve: one suite with one component,
holding exactly the .deb files listed in ` + "`packages`" + `, which are read on the
controller. Boards then use it as a source: ` + "`URIs: http://REPOHOST/...`" + `, with the
repository's public key (` + "`path/pubkey.asc`" + `) as ` + "`Signed-By`" + `.

**Layout**, the same as ` + "`pinery repo`" + ` makes locally: ` + "`pool/COMPONENT/P/SOURCE/NAME_VERSION_ARCH.deb`" + `;
immutable snapshots ` + "`snapshots/ID/dists/SUITE/...`" + ` (ID: UTC time and a checksum; each
has a ` + "`pool`" + ` link so that ` + "`URIs: http://REPOHOST/.../snapshots/ID`" + ` is a source pinned to
it); ` + "`dists/SUITE`" + `, a symbolic link to the current snapshot; ` + "`pubkey.asc`" + `. Each
snapshot has ` + "`Packages`" + `, ` + "`Packages.gz`" + ` and ` + "`Packages.xz`" + ` for every architecture in
` + "`architectures`" + ` (empty ones too; ` + "`Architecture: all`" + ` packages are in all of them), a
` + "`Release`" + ` with MD5, SHA-1, SHA-256 and SHA-512 sums and ` + "`Acquire-By-Hash: yes`" + `,
signed as ` + "`InRelease`" + ` and ` + "`Release.gpg`" + ` (SHA-512 signatures).

**Plan.** The probe reads the host's current snapshot (its ` + "`Release`" + ` and package
list) and ` + "`pubkey.asc`" + `; it reads no .deb on the host. When the indexes pinery would
write are those published, nothing changes. Otherwise the plan lists each package
added, upgraded, replaced (same version, other file) or removed, and the new snapshot,
whose ID is known after apply. A suite holds one version per package and
architecture: list each .deb once.

**Apply** streams, in one SSH session, only what the host lacks: the new pool files
and the new snapshot (a tar archive, checked against SHA-256 sums before anything is
used). Pool files are renamed into place, synced first; the snapshot directory
too. The new snapshot's by-hash directories also get the index files of the kept
earlier snapshots (hard links), so a board whose ` + "`apt-get update`" + ` read the old
` + "`InRelease`" + ` still finds the indexes it names. Then ` + "`dists/SUITE`" + ` is switched with one
rename(2), so clients see the old snapshot or the new one, never a mix. Last,
snapshots of the suite beyond ` + "`keep`" + ` are removed (never one a suite points to), and
pool files no remaining snapshot lists. A pool file is never changed: another file
under a name in use goes to ` + "`NAME_VERSION_ARCH+SHA256PREFIX.deb`" + `.

**The key.** ` + "`signing_key`" + ` is an ASCII-armoured OpenPGP secret key (sensitive: it is
never shown, and never leaves the controller; signing happens there). A protected key
is unlocked with the passphrase in ` + "`$PINERY_SIGNING_PASSPHRASE`" + ` on the controller.
A repository signed by another key is refused at plan time (clients trust the key
they have); an expired key is refused when the state is loaded. With ` + "`valid_for`" + `,
Release carries Valid-Until and apt refuses the suite after it: an unchanged suite is
signed again once half of ` + "`valid_for`" + ` has passed, so run pinery more often than that.

**Not done.** The web server is not configured here (use ` + "`package`" + `, ` + "`file`" + ` and
` + "`service`" + ` resources: the directory needs nothing but read access for it). The
directory belongs to this resource (` + "`pinery repo`" + ` refuses it, as it refuses any
repository it did not make; so does this resource). Two ` + "`apt_repo`" + ` resources may share
` + "`path`" + ` with different suites: they take turns (flock on ` + "`.pinery-repo.lock`" + `). The host
needs a POSIX shell, coreutils, findutils, GNU tar, awk and flock (util-linux): any
Debian has them.`

const resourceExample = `apt_repo "boards" {
  path          = "/srv/apt"
  suite         = "stable"
  packages      = fileset(path.module, "dist/*.deb")
  signing_key   = var.apt_signing_key # sensitive
  architectures = ["arm64", "armhf"]
  valid_for     = "14d"
}`

func init() {
	resource.Register(&resource.Type{
		Name:    "apt_repo",
		Summary: "A signed apt repository on a repo host, published from .deb files on the controller.",
		Doc:     resourceDoc,
		Example: resourceExample,
		Fields: []resource.Field{
			{Name: "path", Type: cty.String, Required: true,
				Doc: "Absolute path of the repository directory on the target (what the web server serves). Created when missing."},
			{Name: "suite", Type: cty.String, Required: true,
				Doc: "The suite (apt's `Suites:`), e.g. `\"stable\"` or `\"bookworm\"`; also the Release's Codename."},
			{Name: "component", Type: cty.String, Default: cty.StringVal("main"),
				Doc: "The suite's one component (apt's `Components:`)."},
			{Name: "packages", Type: cty.List(cty.String), Required: true,
				Doc: "The .deb files on the controller, relative to the directory of the state file. The suite holds exactly these; an empty list publishes an empty suite."},
			{Name: "signing_key", Type: cty.String, Required: true, Sensitive: true,
				Doc: "ASCII-armoured OpenPGP secret key (`gpg --export-secret-keys --armor KEYID`) that signs the Release files; a passphrase comes from `$PINERY_SIGNING_PASSPHRASE`."},
			{Name: "architectures", Type: cty.List(cty.String), Default: cty.ListVal([]cty.Value{cty.StringVal("arm64"), cty.StringVal("armhf"), cty.StringVal("amd64")}),
				Doc: "Architectures with indexes; every package's architecture (but `all`) must be one of them."},
			{Name: "origin", Type: cty.String, Default: cty.StringVal("pinery"),
				Doc: "The Release's Origin (apt pinning matches it with `o=`)."},
			{Name: "label", Type: cty.String,
				Doc: "The Release's Label; the origin when unset."},
			{Name: "keep", Type: cty.Number, Default: resource.Num(DefaultKeep),
				Doc: "How many snapshots of the suite to keep, the current one included."},
			{Name: "valid_for", Type: cty.String,
				Doc: "When set (`\"14d\"`, `\"36h\"`), the Release is valid for this long (Valid-Until) and is signed again, unchanged, once half of it has passed."},
		},
		New: New,
	})
}

// AptRepo is one apt_repo resource on one host.
type AptRepo struct {
	path, suite, component string
	settings               Settings
	keep                   int
	validFor               time.Duration
	debs                   []*Package // read on the controller, no Filename
	key                    *Key
	pubkey                 []byte
}

var _ resource.Resource = (*AptRepo)(nil)

// New validates an apt_repo block and reads its .deb files and key.
func New(cfg resource.Config) (resource.Resource, error) {
	r := &AptRepo{path: cfg.String("path"), suite: cfg.String("suite"), component: cfg.String("component")}
	switch p := r.path; {
	case !strings.HasPrefix(p, "/"):
		return nil, cfg.Errorf("path", "must be an absolute path (starting with /), not %q", p)
	case p == "/":
		return nil, cfg.Errorf("path", "must be a directory of its own, not /")
	case filepath.Clean(p) != p || strings.ContainsAny(p, "\x00\n"):
		return nil, cfg.Errorf("path", "must be a clean path: write %q", filepath.Clean(p))
	}
	if err := CheckName("suite", r.suite); err != nil {
		return nil, cfg.Errorf("suite", "%v", err)
	}
	if err := CheckName("component", r.component); err != nil {
		return nil, cfg.Errorf("component", "%v", err)
	}
	s, err := Settings{Origin: cfg.String("origin"), Label: cfg.String("label"), Architectures: cfg.Strings("architectures")}.withDefaults()
	if err != nil {
		field := "architectures"
		if strings.Contains(err.Error(), "origin") {
			field = "origin"
		}
		return nil, cfg.Errorf(field, "%v", err)
	}
	r.settings = s
	if keep := cfg.Int("keep"); keep < 1 || keep > 1000 {
		return nil, cfg.Errorf("keep", "must be from 1 to 1000, not %d", keep)
	} else {
		r.keep = int(keep)
	}
	if v := cfg.String("valid_for"); v != "" {
		if r.validFor, err = ParseValidFor(v); err != nil {
			return nil, cfg.Errorf("valid_for", "%v", err)
		}
	}
	if r.key, err = ReadKey([]byte(cfg.String("signing_key")), []byte(os.Getenv(PassphraseEnv))); err != nil {
		return nil, cfg.Errorf("signing_key", "%v", err)
	}
	if err := r.key.Check(time.Now()); err != nil {
		return nil, cfg.Errorf("signing_key", "%v", err)
	}
	if r.pubkey, err = r.key.PublicKey(); err != nil {
		return nil, cfg.Errorf("signing_key", "%v", err)
	}
	if v := cfg.Values["packages"]; v != cty.NilVal && !v.IsWhollyKnown() {
		return nil, cfg.Errorf("packages", "are not known until apply; the .deb files must be known when planning")
	}
	seen := map[string]*Package{}
	for _, name := range cfg.Strings("packages") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(cfg.BaseDir, name)
		}
		p, err := readDebCached(name)
		if err != nil {
			return nil, cfg.Errorf("packages", "%v", err)
		}
		if p.Architecture != "all" && !slices.Contains(s.Architectures, p.Architecture) {
			return nil, cfg.Errorf("packages", "%s is for %s, which is not in architectures (%s)", name, p.Architecture, strings.Join(s.Architectures, ", "))
		}
		key := p.Name + "/" + p.Architecture
		if o := seen[key]; o != nil {
			return nil, cfg.Errorf("packages", "%s and %s are both %s (%s): a suite holds one version of a package per architecture", o.file, name, p.Name, p.Architecture)
		}
		seen[key] = p
		r.debs = append(r.debs, p)
	}
	return r, nil
}

// ParseValidFor reads a validity period: a number of days ("14d") or a Go
// duration of an hour or more ("36h").
func ParseValidFor(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || days <= 0 || fmt.Sprint(days) != n {
			return 0, fmt.Errorf("%q: give a number of days (14d) or a duration (36h)", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("%q: give a number of days (14d) or a duration of an hour or more (36h)", s)
	}
	return d, nil
}

// debCache spares re-reading (and hashing) the same .deb for every host
// and every run of a long-lived process.
var debCache sync.Map // path → cachedDeb

type cachedDeb struct {
	size  int64
	mtime time.Time
	pkg   *Package
}

func readDebCached(name string) (*Package, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if c, ok := debCache.Load(name); ok {
		if c := c.(cachedDeb); c.size == st.Size() && c.mtime.Equal(st.ModTime()) {
			return c.pkg, nil
		}
	}
	p, err := ReadDebFile(name)
	if err != nil {
		return nil, err
	}
	debCache.Store(name, cachedDeb{st.Size(), st.ModTime(), p})
	return p, nil
}

// pubkeyDigest identifies an exported public key in plans.
func pubkeyDigest(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s[:])
}
