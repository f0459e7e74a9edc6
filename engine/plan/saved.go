package plan

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pinery/pinery/engine/atomicfile"
)

// SavedFormat names the saved plan file format.
const SavedFormat = "pinery-plan/1"

// Saved is a plan written by `pinery plan --out` and applied, exactly, by
// `pinery apply FILE`. It records how the plan was made (site, inventory,
// limit, variables: never a sensitive value) and, per host, what the host
// looked like (digests of the probe) and the plan itself, so that apply can
// refuse a host that drifted or whose plan would differ.
type Saved struct {
	Format    string     `json:"format"`
	ID        string     `json:"id"`
	Version   string     `json:"pinery_version"`
	Created   time.Time  `json:"created"`
	Applied   *time.Time `json:"applied,omitempty"`
	Site      string     `json:"site"`
	Inventory string     `json:"inventory"`
	Limit     string     `json:"limit,omitempty"`
	Shard     string     `json:"shard,omitempty"` // --shard I/N
	// Vars are the --var values; sensitive ones are listed by name only
	// and must be given again to apply.
	Vars          map[string]string `json:"vars,omitempty"`
	SensitiveVars []string          `json:"sensitive_vars,omitempty"`
	VarFiles      []string          `json:"var_files,omitempty"`
	Hosts         []SavedHost       `json:"hosts"`
}

// SavedHost is one host of a saved plan.
type SavedHost struct {
	Host    string            `json:"host"`
	Error   string            `json:"error,omitempty"` // not planned
	Journal string            `json:"journal"`         // digest of the owed-refresh journal
	Probes  map[string]string `json:"probes"`          // address → digest of its probe
	Plan    json.RawMessage   `json:"plan"`            // the host's JSON plan
}

// NewSaved records a plan. The caller fills in how it was made.
func NewSaved(p *Plan, version string) (*Saved, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	s := &Saved{Format: SavedFormat, ID: hex.EncodeToString(id[:]), Version: version, Created: time.Now().UTC()}
	for _, h := range p.Hosts {
		sh, err := savedHost(h)
		if err != nil {
			return nil, err
		}
		s.Hosts = append(s.Hosts, sh)
	}
	return s, nil
}

func savedHost(h *HostPlan) (SavedHost, error) {
	doc, err := json.Marshal(h.jsonDoc())
	if err != nil {
		return SavedHost{}, err
	}
	sh := SavedHost{Host: h.Host, Journal: h.JournalHash, Probes: map[string]string{}, Plan: doc}
	if h.Error != nil {
		sh.Error = h.Error.Error()
	}
	for _, r := range h.Resources {
		sh.Probes[r.Addr] = r.ProbeHash
	}
	return sh, nil
}

// Write saves the plan atomically, readable by its owner only.
func (s *Saved) Write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// ReadSaved reads a saved plan.
func ReadSaved(path string) (*Saved, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Saved
	if err := json.Unmarshal(b, &s); err != nil || s.Format == "" {
		return nil, fmt.Errorf("%s is not a saved plan (made by pinery plan --out)", path)
	}
	if s.Format != SavedFormat {
		return nil, fmt.Errorf("%s is a saved plan of format %q; this pinery reads %q: make the plan again", path, s.Format, SavedFormat)
	}
	return &s, nil
}

// Host returns the saved entry of a host.
func (s *Saved) Host(name string) (SavedHost, bool) {
	for _, h := range s.Hosts {
		if h.Host == name {
			return h, true
		}
	}
	return SavedHost{}, false
}

// ErrDrifted is the class of Check's errors.
var ErrDrifted = errors.New("drifted since the plan")

// Check compares a fresh plan of a host with what was saved: the error says
// what drifted (resources whose state changed) or that the plan itself
// would differ (configuration or variables changed). nil means applying
// the fresh plan applies exactly the saved one.
func (s *Saved) Check(h *HostPlan) error {
	saved, ok := s.Host(h.Host)
	switch {
	case !ok:
		return fmt.Errorf("not in the saved plan")
	case saved.Error != "":
		return fmt.Errorf("was not planned (%s); make a new plan", saved.Error)
	case h.Error != nil:
		return h.Error
	}
	var drifted []string
	for _, r := range h.Resources {
		if d, ok := saved.Probes[r.Addr]; ok && d != r.ProbeHash {
			drifted = append(drifted, r.Addr)
		}
	}
	if saved.Journal != h.JournalHash {
		drifted = append(drifted, "its journal of owed refreshes")
	}
	sort.Strings(drifted)
	if len(drifted) > 0 {
		return fmt.Errorf("%w: %s changed on the host; make a new plan", ErrDrifted, strings.Join(drifted, ", "))
	}
	fresh, err := savedHost(h)
	if err != nil {
		return err
	}
	// The file is indented; compare the documents, not their layout.
	var a, b bytes.Buffer
	if json.Compact(&a, fresh.Plan) != nil || json.Compact(&b, saved.Plan) != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		return fmt.Errorf("%w: its plan would differ from the saved one (the site, the inventory or the variables changed); make a new plan", ErrDrifted)
	}
	return nil
}

// MarkApplied records in the file that the plan was applied, so that it
// cannot be applied twice.
func (s *Saved) MarkApplied(path string) error {
	now := time.Now().UTC()
	s.Applied = &now
	return s.Write(path)
}
