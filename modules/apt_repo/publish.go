package aptrepo

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// DefaultKeep is how many snapshots of a suite publishing keeps.
const DefaultKeep = 5

// PublishOptions tune a publish.
type PublishOptions struct {
	Keep       int           // snapshots of the suite kept; 0 means DefaultKeep
	ValidFor   time.Duration // Valid-Until is Date plus this; 0: no Valid-Until
	Components []string      // listed even when they have no packages
	Now        func() time.Time
}

// Published says what a publish did.
type Published struct {
	Suite     string
	Snapshot  string // what the suite points to now
	Previous  string // what it pointed to before; "" for a new suite
	Unchanged bool   // nothing to publish: Snapshot is the old one
	Packages  int    // in the suite
	Pruned    []string
	PoolFreed []string // pool files no kept snapshot lists any more
}

// Publish makes a new snapshot of suite from the packages added to it,
// signed with key, and switches the suite to it atomically; then it prunes
// old snapshots of the suite and unused pool files. When the snapshot
// would list the same indexes as the current one (and its Valid-Until is
// not half way to expiry), nothing is published.
func (r *Repo) Publish(suite string, key *Key, opts PublishOptions) (*Published, error) {
	if err := CheckName("suite", suite); err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now().UTC().Truncate(time.Second)
	keep := opts.Keep
	if keep == 0 {
		keep = DefaultKeep
	}
	if keep < 1 {
		return nil, fmt.Errorf("keep must be 1 or more, not %d", keep)
	}
	if err := key.Check(t); err != nil {
		return nil, err
	}
	if err := r.useKey(key); err != nil {
		return nil, err
	}
	comps := r.Packages(suite)
	for _, c := range opts.Components {
		if err := CheckName("component", c); err != nil {
			return nil, err
		}
		if _, ok := comps[c]; !ok {
			comps[c] = nil
		}
	}
	if len(comps) == 0 {
		return nil, fmt.Errorf("suite %s has no component: add packages or name a component", suite)
	}
	spec := &suiteSpec{Suite: suite, Origin: r.db.Origin, Label: r.db.Label, Architectures: r.db.Architectures,
		Components: comps, Date: t}
	if opts.ValidFor > 0 {
		spec.ValidUntil = t.Add(opts.ValidFor)
	}
	res := &Published{Suite: suite, Previous: r.current(suite), Packages: countPackages(comps)}
	if res.Previous != "" && r.unchanged(spec, res.Previous, opts.ValidFor, t) {
		res.Snapshot, res.Unchanged = res.Previous, true
		return res, nil
	}

	snaps, err := r.snapshotSuites()
	if err != nil {
		return nil, err
	}
	id, _, entries, err := buildSnapshot(spec, key, sortedKeys(snaps))
	if err != nil {
		return nil, err
	}
	staging, err := os.MkdirTemp(r.Dir, tmpGlob)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging)
	if err := writeEntries(staging, entries); err != nil {
		return nil, err
	}
	var earlier []string
	for _, old := range keptIDs(snaps, suite, keep-1, r.currents()) {
		earlier = append(earlier, filepath.Join(r.Dir, "snapshots", old, "dists", suite))
	}
	if err := carryByHash(filepath.Join(staging, "snapshots", id, "dists", suite), earlier); err != nil {
		return nil, fmt.Errorf("linking earlier indexes into by-hash: %w", err)
	}
	if err := os.Rename(filepath.Join(staging, "snapshots", id), filepath.Join(r.Dir, "snapshots", id)); err != nil {
		return nil, err
	}
	syncDir(filepath.Join(r.Dir, "snapshots"))
	if err := r.switchSuite(suite, id); err != nil {
		return nil, err
	}
	res.Snapshot = id
	res.Pruned, res.PoolFreed, err = r.prune(suite, keep)
	if err != nil {
		return res, fmt.Errorf("published %s, but pruning failed: %w", id, err)
	}
	return res, nil
}

// unchanged reports whether the current snapshot lists what spec would.
func (r *Repo) unchanged(spec *suiteSpec, cur string, validFor time.Duration, now time.Time) bool {
	data, err := os.ReadFile(filepath.Join(r.Dir, "snapshots", cur, "dists", spec.Suite, "Release"))
	if err != nil {
		return false
	}
	have, err := ParseRelease(data)
	return err == nil && upToDate(have, spec, validFor, now)
}

// sameRelease compares what apt reads from two Release files, dates apart.
func sameRelease(a, b *Release) bool {
	return a.Origin == b.Origin && a.Label == b.Label && a.Suite == b.Suite && a.Codename == b.Codename &&
		slices.Equal(a.Architectures, b.Architectures) && slices.Equal(a.Components, b.Components) &&
		a.AcquireByHash == b.AcquireByHash &&
		slices.EqualFunc(a.Files, b.Files, func(x, y IndexFile) bool { return x.Path == y.Path && x.Size == y.Size && x.Sums[2] == y.Sums[2] })
}

func countPackages(comps map[string][]*Package) int {
	n := 0
	for _, pkgs := range comps {
		n += len(pkgs)
	}
	return n
}

// suiteLink is what dists/SUITE points to for a snapshot.
func suiteLink(suite, id string) string { return "../snapshots/" + id + "/dists/" + suite }

// current is the snapshot dists/SUITE points to, "" when none.
func (r *Repo) current(suite string) string {
	target, err := os.Readlink(filepath.Join(r.Dir, "dists", suite))
	if err != nil {
		return ""
	}
	id, ok := strings.CutPrefix(target, "../snapshots/")
	id, _, _ = strings.Cut(id, "/")
	if !ok || target != suiteLink(suite, id) {
		return ""
	}
	return id
}

// currents maps each snapshot a suite points to to true.
func (r *Repo) currents() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(r.Dir, "dists"))
	for _, e := range ents {
		if id := r.current(e.Name()); id != "" {
			out[id] = true
		}
	}
	return out
}

// switchSuite points dists/SUITE to snapshot id with one rename(2): a
// client sees the old snapshot or the new one, never none.
func (r *Repo) switchSuite(suite, id string) error {
	dists := filepath.Join(r.Dir, "dists")
	if err := os.MkdirAll(dists, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dists, tmpGlob)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	link := filepath.Join(tmp, "link")
	if err := os.Symlink(suiteLink(suite, id), link); err != nil {
		return err
	}
	if err := os.Rename(link, filepath.Join(dists, suite)); err != nil {
		return fmt.Errorf("switching suite %s: %w", suite, err)
	}
	syncDir(dists)
	return nil
}

// snapshotSuites maps every snapshot ID to its suite.
func (r *Repo) snapshotSuites() (map[string]string, error) {
	ents, err := os.ReadDir(filepath.Join(r.Dir, "snapshots"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		suites, _ := os.ReadDir(filepath.Join(r.Dir, "snapshots", e.Name(), "dists"))
		if len(suites) == 1 {
			out[e.Name()] = suites[0].Name()
		}
	}
	return out, nil
}

// keptIDs are the newest n snapshots of suite plus any a suite points to.
func keptIDs(snaps map[string]string, suite string, n int, currents map[string]bool) []string {
	var ids []string
	for id, s := range snaps {
		if s == suite {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	var out []string
	for i, id := range ids {
		if i < n || currents[id] {
			out = append(out, id)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// prune removes the snapshots of suite past the newest keep (never one a
// suite points to), temporary leftovers, and pool files that neither the
// database nor a remaining snapshot lists.
func (r *Repo) prune(suite string, keep int) (snapsGone, poolGone []string, err error) {
	snaps, err := r.snapshotSuites()
	if err != nil {
		return nil, nil, err
	}
	kept := keptIDs(snaps, suite, keep, r.currents())
	for id, s := range snaps {
		if s == suite && !slices.Contains(kept, id) {
			if err := os.RemoveAll(filepath.Join(r.Dir, "snapshots", id)); err != nil {
				return snapsGone, nil, err
			}
			delete(snaps, id)
			snapsGone = append(snapsGone, id)
		}
	}
	sort.Strings(snapsGone)
	for _, dir := range []string{r.Dir, filepath.Join(r.Dir, "snapshots"), filepath.Join(r.Dir, "dists")} {
		leftovers, _ := filepath.Glob(filepath.Join(dir, tmpGlob))
		for _, l := range leftovers {
			os.RemoveAll(l)
		}
	}

	used := map[string]bool{}
	for _, comps := range r.db.Suites {
		for _, pkgs := range comps {
			for _, p := range pkgs {
				used[p.Filename] = true
			}
		}
	}
	for id := range snaps {
		if err := poolFilesOf(filepath.Join(r.Dir, "snapshots", id), used); err != nil {
			return snapsGone, nil, fmt.Errorf("not pruning the pool: snapshot %s: %w", id, err)
		}
	}
	pool := filepath.Join(r.Dir, "pool")
	var dirs []string
	err = filepath.WalkDir(pool, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		rel, _ := filepath.Rel(r.Dir, p)
		if rel = filepath.ToSlash(rel); !used[rel] {
			if err := os.Remove(p); err != nil {
				return err
			}
			poolGone = append(poolGone, rel)
		}
		return nil
	})
	for i := len(dirs) - 1; i > 0; i-- { // deepest first; the pool itself stays
		os.Remove(dirs[i]) // fails, as it should, when not empty
	}
	return snapsGone, poolGone, err
}

// poolFilesOf adds the Filename of every package a snapshot lists to used.
func poolFilesOf(snapshot string, used map[string]bool) error {
	files, err := filepath.Glob(filepath.Join(snapshot, "dists", "*", "*", "binary-*", "Packages"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := filenames(f, func(name string) { used[name] = true }); err != nil {
			return err
		}
	}
	return nil
}

// filenames calls fn with each Filename field of a Packages file.
func filenames(packages string, fn func(string)) error {
	f, err := os.Open(packages)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxControl)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "Filename: "); ok {
			fn(strings.TrimSpace(name))
		}
	}
	return sc.Err()
}

// syncDir makes a rename in dir durable; best effort, as not every file
// system can sync a directory.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// Snapshot describes one snapshot.
type Snapshot struct {
	ID, Suite string
	Date      time.Time
	Packages  int
	Current   bool // its suite points to it
}

// Snapshots lists the repository's snapshots, oldest first.
func (r *Repo) Snapshots() ([]Snapshot, error) {
	snaps, err := r.snapshotSuites()
	if err != nil {
		return nil, err
	}
	cur := r.currents()
	var out []Snapshot
	for _, id := range sortedKeys(snaps) {
		s := Snapshot{ID: id, Suite: snaps[id], Current: cur[id]}
		dir := filepath.Join(r.Dir, "snapshots", id)
		if data, err := os.ReadFile(filepath.Join(dir, "dists", s.Suite, "Release")); err == nil {
			if rel, err := ParseRelease(data); err == nil {
				s.Date = rel.Date
			}
		}
		used := map[string]bool{}
		if err := poolFilesOf(dir, used); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", id, err)
		}
		s.Packages = len(used)
		out = append(out, s)
	}
	return out, nil
}
