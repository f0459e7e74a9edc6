package aptrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/pinery/pinery/engine/atomicfile"
)

const (
	dbName   = "pinery-repo.json"
	dbFormat = "pinery-apt-repo/1"
	lockName = ".pinery-repo.lock"
	tmpGlob  = ".pinery-tmp-*"
)

// DefaultArchitectures are those of the boards pinery is made for.
var DefaultArchitectures = []string{"arm64", "armhf", "amd64"}

// Settings are a repository's Release fields that apply to every suite.
type Settings struct {
	Origin, Label string
	Architectures []string
}

// db is pinery-repo.json: the settings, the signing key's fingerprint and
// the packages of every suite and component, so that publishing never
// re-reads a .deb.
type db struct {
	Format        string                           `json:"format"`
	Origin        string                           `json:"origin"`
	Label         string                           `json:"label"`
	Architectures []string                         `json:"architectures"`
	Fingerprint   string                           `json:"fingerprint,omitempty"`
	Suites        map[string]map[string][]*Package `json:"suites"`
}

// Repo is a repository directory on this machine, locked while open.
type Repo struct {
	Dir  string
	db   *db
	lock *os.File
}

// ErrNotRepo is returned by Open for a directory without pinery-repo.json.
var ErrNotRepo = errors.New("not a pinery apt repository")

// Open locks and reads the repository in dir.
func Open(dir string) (*Repo, error) {
	if _, err := os.Stat(filepath.Join(dir, dbName)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no %s; create it with pinery repo init)", dir, ErrNotRepo, dbName)
	}
	r, err := lockRepo(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, dbName))
	if err == nil {
		err = json.Unmarshal(data, &r.db)
	}
	if err == nil && (r.db == nil || r.db.Format != dbFormat) {
		err = fmt.Errorf("not a %s file", dbFormat)
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, dbName), err)
	}
	if r.db.Suites == nil {
		r.db.Suites = map[string]map[string][]*Package{}
	}
	return r, nil
}

// Create makes a new repository in dir (created if missing, else empty or
// without pinery-repo.json). With a key, its public key is written to
// pubkey.asc and only it may sign the repository from then on.
func Create(dir string, s Settings, key *Key) (*Repo, error) {
	if _, err := os.Stat(filepath.Join(dir, dbName)); err == nil {
		return nil, fmt.Errorf("%s is a repository already", dir)
	}
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	// Pruning removes pool files no snapshot lists: never in another
	// tool's repository.
	for _, d := range []string{"pool", "snapshots", "dists"} {
		if ents, _ := os.ReadDir(filepath.Join(dir, d)); len(ents) > 0 {
			return nil, fmt.Errorf("%s has a %s/ directory with files but no %s: it is not pinery's; use an empty directory", dir, d, dbName)
		}
	}
	for _, d := range []string{"pool", "snapshots", "dists"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	r, err := lockRepo(dir)
	if err != nil {
		return nil, err
	}
	r.db = &db{Format: dbFormat, Origin: s.Origin, Label: s.Label, Architectures: s.Architectures,
		Suites: map[string]map[string][]*Package{}}
	if key != nil {
		if err := r.useKey(key); err != nil {
			r.Close()
			return nil, err
		}
	}
	if err := r.save(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// OpenOrCreate opens the repository in dir, creating it with s when dir
// holds none.
func OpenOrCreate(dir string, s Settings, key *Key) (r *Repo, created bool, err error) {
	r, err = Open(dir)
	if errors.Is(err, ErrNotRepo) {
		r, err = Create(dir, s, key)
		return r, err == nil, err
	}
	return r, false, err
}

func lockRepo(dir string) (*Repo, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the repository: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the repository: %w", err)
	}
	return &Repo{Dir: dir, lock: f}, nil
}

// Close releases the lock.
func (r *Repo) Close() error { return r.lock.Close() }

func (s Settings) withDefaults() (Settings, error) {
	if s.Origin == "" {
		s.Origin = "pinery"
	}
	if s.Label == "" {
		s.Label = s.Origin
	}
	for _, v := range []string{s.Origin, s.Label} {
		if strings.ContainsAny(v, "\n\r") || strings.TrimSpace(v) != v {
			return s, fmt.Errorf("origin and label are one line without leading or trailing spaces: %q", v)
		}
	}
	if len(s.Architectures) == 0 {
		s.Architectures = DefaultArchitectures
	}
	seen := map[string]bool{}
	for _, a := range s.Architectures {
		if err := CheckArch(a); err != nil {
			return s, err
		}
		if seen[a] {
			return s, fmt.Errorf("architecture %s is given twice", a)
		}
		seen[a] = true
	}
	s.Architectures = slices.Clone(s.Architectures)
	return s, nil
}

// Settings returns the repository's settings.
func (r *Repo) Settings() Settings {
	return Settings{Origin: r.db.Origin, Label: r.db.Label, Architectures: slices.Clone(r.db.Architectures)}
}

// SetSettings changes the settings for the next publish. An architecture
// that packages of the repository are built for cannot be removed.
func (r *Repo) SetSettings(s Settings) error {
	s, err := s.withDefaults()
	if err != nil {
		return err
	}
	for suite, comps := range r.db.Suites {
		for comp, pkgs := range comps {
			for _, p := range pkgs {
				if p.Architecture != "all" && !slices.Contains(s.Architectures, p.Architecture) {
					return fmt.Errorf("%s/%s has %s: remove it first, or keep architecture %s", suite, comp, p, p.Architecture)
				}
			}
		}
	}
	r.db.Origin, r.db.Label, r.db.Architectures = s.Origin, s.Label, s.Architectures
	return r.save()
}

// Fingerprint is the fingerprint of the key that signs the repository, ""
// until one is set.
func (r *Repo) Fingerprint() string { return r.db.Fingerprint }

// useKey makes key the repository's: pubkey.asc is its public key. Another
// key is refused, since clients trust the one they have.
func (r *Repo) useKey(key *Key) error {
	if r.db.Fingerprint != "" && r.db.Fingerprint != key.Fingerprint() {
		return fmt.Errorf("the signing key %s is not the repository's key %s (pubkey.asc); clients trust that one", key.Fingerprint(), r.db.Fingerprint)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return err
	}
	p := filepath.Join(r.Dir, "pubkey.asc")
	if old, err := os.ReadFile(p); err != nil || string(old) != string(pub) {
		// Same key, maybe a new expiry date: clients need the new one.
		if err := atomicfile.Write(p, pub, 0o644); err != nil {
			return err
		}
	}
	if r.db.Fingerprint == "" {
		r.db.Fingerprint = key.Fingerprint()
		return r.save()
	}
	return nil
}

func (r *Repo) save() error {
	data, err := json.MarshalIndent(r.db, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(r.Dir, dbName), append(data, '\n'), 0o644)
}

// Suites lists the suites that have packages or components, sorted.
func (r *Repo) Suites() []string {
	var out []string
	for s := range r.db.Suites {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Packages returns a suite's packages by component (copies).
func (r *Repo) Packages(suite string) map[string][]*Package {
	out := map[string][]*Package{}
	for comp, pkgs := range r.db.Suites[suite] {
		for _, p := range pkgs {
			c := *p
			out[comp] = append(out[comp], &c)
		}
	}
	return out
}

// AddResult says what adding one .deb did.
type AddResult struct {
	Package  *Package
	Replaced *Package // the package of the same name and architecture it replaced
	Same     bool     // the suite had this very file already
}

// Add puts a .deb read by ReadDebFile into suite/component: the file is
// copied into the pool and the suite lists it from the next publish on. A suite holds one
// version per package name and architecture: a new version replaces the
// old one. A different file with the same name, version and architecture
// is refused unless replace is true.
func (r *Repo) Add(suite, component string, deb *Package, replace bool) (*AddResult, error) {
	if err := CheckName("suite", suite); err != nil {
		return nil, err
	}
	if err := CheckName("component", component); err != nil {
		return nil, err
	}
	if deb.file == "" {
		return nil, fmt.Errorf("%s was not read from a file", deb)
	}
	p, file := new(Package), deb.file
	*p = *deb
	p.file = ""
	if p.Architecture != "all" && !slices.Contains(r.db.Architectures, p.Architecture) {
		return nil, fmt.Errorf("%s: architecture %s is not one of the repository's (%s)", file, p.Architecture, strings.Join(r.db.Architectures, ", "))
	}
	res := &AddResult{Package: p}
	comps := r.db.Suites[suite]
	if comps == nil {
		comps = map[string][]*Package{}
		r.db.Suites[suite] = comps
	}
	pkgs := comps[component]
	i := slices.IndexFunc(pkgs, func(o *Package) bool { return o.Name == p.Name && o.Architecture == p.Architecture })
	if i >= 0 {
		old := pkgs[i]
		if old.Version == p.Version && old.SHA256 == p.SHA256 {
			res.Package, res.Same = old, true
			comps[component] = pkgs
			return res, r.save()
		}
		if old.Version == p.Version && !replace {
			return nil, fmt.Errorf("%s: %s/%s has a different file for %s already (SHA-256 %.12s…, this one %.12s…); give --replace to replace it",
				file, suite, component, p, old.SHA256, p.SHA256)
		}
		res.Replaced = old
	}
	var err error
	if p.Filename, err = r.toPool(component, p, file); err != nil {
		return nil, err
	}
	if i >= 0 {
		pkgs[i] = p
	} else {
		pkgs = append(pkgs, p)
	}
	comps[component] = pkgs
	return res, r.save()
}

// toPool copies file into the pool and returns its pool path. A pool file
// is never changed, since snapshots point to it: when another file already
// has the canonical name, this one gets its checksum in its name.
func (r *Repo) toPool(component string, p *Package, file string) (string, error) {
	name := poolPath(component, p.Source, p.Name, p.Version, p.Architecture)
	for _, cand := range []string{name, strings.TrimSuffix(name, ".deb") + "+" + p.SHA256[:16] + ".deb"} {
		dst := filepath.Join(r.Dir, filepath.FromSlash(cand))
		if st, err := os.Stat(dst); err == nil {
			if st.Size() == p.Size && fileSHA256(dst) == p.SHA256 {
				return cand, nil
			}
			continue
		}
		return cand, copyFile(file, dst)
	}
	return "", fmt.Errorf("%s: the pool has other files under its name and its checksummed name", file)
}

// copyFile copies src to dst atomically (temporary file, fsync, rename),
// mode 0644.
func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, in)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("copying %s into the pool: %w", src, err)
	}
	return nil
}

// Remove drops packages named name (of one architecture, or all when arch
// is "") from suite/component; their pool files go when no kept snapshot
// lists them. It returns what it removed.
func (r *Repo) Remove(suite, component, name, arch string) ([]*Package, error) {
	comps := r.db.Suites[suite]
	if comps == nil {
		return nil, fmt.Errorf("the repository has no suite %s", suite)
	}
	var removed []*Package
	comps[component] = slices.DeleteFunc(comps[component], func(p *Package) bool {
		if p.Name == name && (arch == "" || p.Architecture == arch) {
			removed = append(removed, p)
			return true
		}
		return false
	})
	if len(removed) == 0 {
		what := name
		if arch != "" {
			what += " (" + arch + ")"
		}
		return nil, fmt.Errorf("%s/%s has no package %s", suite, component, what)
	}
	return removed, r.save()
}

// fileSHA256 is a file's SHA-256 in hex, "" when it cannot be read.
func fileSHA256(name string) string {
	f, err := os.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
