package aptrepo

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// Probe prints what the host publishes for the suite:
//
//	state=none|dir|other
//	snap=ID/dists/SUITE          every snapshot
//	current=TARGET               where dists/SUITE points
//	pubkey=BASE64                pubkey.asc
//	foreign=1                    no pubkey.asc, but pool/, dists/ or snapshots/ has files
//	pkg NAME VERSION ARCH SHA256 FILENAME   from the current Packages files
//	release                      then the current Release, to the end
func (r *AptRepo) Probe() string {
	return fmt.Sprintf("d=%s\ns=%s\nc=%s\n", shellescape.Quote(r.path), r.suite, r.component) + `if [ ! -e "$d" ]; then echo state=none; exit 0; fi
if [ ! -d "$d" ]; then echo state=other; exit 0; fi
echo state=dir
for x in "$d"/snapshots/*/dists/*; do [ -d "$x" ] && echo "snap=${x#"$d"/snapshots/}"; done
if [ -L "$d/dists/$s" ]; then echo "current=$(readlink "$d/dists/$s")"; elif [ -e "$d/dists/$s" ]; then echo current=; fi
if [ -f "$d/pubkey.asc" ]; then echo "pubkey=$(base64 -w0 <"$d/pubkey.asc")"
else for x in pool dists snapshots; do [ -n "$(ls -A "$d/$x" 2>/dev/null)" ] && { echo foreign=1; break; }; done; fi
for f in "$d/dists/$s/$c"/binary-*/Packages; do
  [ -f "$f" ] || continue
  awk '/^Package: /{p=$2} /^Version: /{v=$2} /^Architecture: /{a=$2} /^Filename: /{n=$2} /^SHA256: /{h=$2}
    /^$/{if(p!="")print "pkg",p,v,a,h,n; p=""} END{if(p!="")print "pkg",p,v,a,h,n}' "$f" || exit 1
done
if [ -f "$d/dists/$s/Release" ]; then echo release; cat "$d/dists/$s/Release" || exit 1; fi
`
}

// hostState is what the probe found.
type hostState struct {
	exists  bool
	snaps   map[string]string // ID → suite
	current string            // snapshot ID dists/SUITE points to, "" when none
	pubkey  []byte
	pkgs    map[string]*Package // name/arch → as published (Name, Version, Architecture, SHA256, Filename)
	release *Release
	foreign bool // not a pinery repository, yet not empty
}

func (r *AptRepo) parseProbe(out resource.ProbeResult) (*hostState, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d (cannot read %s?)", out.ExitCode, r.path)
	}
	h := &hostState{snaps: map[string]string{}, pkgs: map[string]*Package{}}
	text, rel, hasRel := strings.Cut(string(out.Stdout), "\nrelease\n")
	if strings.HasPrefix(text, "release\n") { // nothing before it
		text, rel, hasRel = "", strings.TrimPrefix(text, "release\n"), true
	}
	state := ""
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		switch {
		case line == "":
		case strings.HasPrefix(line, "pkg "):
			f := strings.Fields(line)
			if len(f) != 6 {
				return nil, fmt.Errorf("malformed probe output line %q", truncate(line, 80))
			}
			p := &Package{Name: f[1], Version: f[2], Architecture: f[3], SHA256: f[4], Filename: f[5]}
			h.pkgs[p.Name+"/"+p.Architecture] = p
		case !ok:
			return nil, fmt.Errorf("malformed probe output line %q", truncate(line, 80))
		case k == "state":
			state = v
		case k == "snap":
			id, suite, ok := strings.Cut(v, "/dists/")
			if ok && !strings.Contains(suite, "/") {
				h.snaps[id] = suite
			}
		case k == "current":
			id, ok := strings.CutPrefix(v, "../snapshots/")
			id, _, _ = strings.Cut(id, "/")
			if !ok || v != suiteLink(r.suite, id) {
				return nil, fmt.Errorf("%s/dists/%s is not a link to a pinery snapshot (../snapshots/ID/dists/%s); move it away first", r.path, r.suite, r.suite)
			}
			h.current = id
		case k == "foreign":
			h.foreign = true
		case k == "pubkey":
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("malformed probe output: pubkey: %v", err)
			}
			h.pubkey = b
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", truncate(line, 80))
		}
	}
	switch state {
	case "none":
		return h, nil
	case "other":
		return nil, fmt.Errorf("%s exists and is not a directory", r.path)
	case "dir":
		h.exists = true
		if h.foreign {
			return nil, fmt.Errorf("%s has pool/, dists/ or snapshots/ with files but no pubkey.asc: it is not a pinery repository, and publishing would prune its pool; use an empty directory", r.path)
		}
	default:
		return nil, errors.New("malformed probe output: no state")
	}
	if hasRel && h.current != "" {
		var err error
		if h.release, err = ParseRelease([]byte(rel)); err != nil {
			return nil, fmt.Errorf("%s/dists/%s/%w", r.path, r.suite, err)
		}
	}
	return h, nil
}

// Private is what Apply needs from the plan.
type Private struct {
	host      *hostState
	debs      []*Package // with the Filename each will have (new ones: the canonical name)
	newPubkey bool
}

// Plan compares the published suite with the packages and settings.
func (r *AptRepo) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	h, err := r.parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("apt_repo %s: %w", r.path, err)
	}
	if len(h.pubkey) > 0 {
		if fp, ok := fingerprintOf(h.pubkey); !ok {
			return nil, fmt.Errorf("%s/pubkey.asc is not an OpenPGP public key; move it away first", r.path)
		} else if fp != r.key.Fingerprint() {
			return nil, fmt.Errorf("%s is signed by key %s (pubkey.asc), not by signing_key's %s: clients trust that key; publish to another path, or remove the repository first", r.path, fp, r.key.Fingerprint())
		}
	}
	priv := &Private{host: h, newPubkey: !bytes.Equal(h.pubkey, r.pubkey)}
	for _, d := range r.debs {
		p := *d
		p.Filename = poolPath(r.component, p.Source, p.Name, p.Version, p.Architecture)
		if o := h.pkgs[p.Name+"/"+p.Architecture]; o != nil && o.Version == p.Version && o.SHA256 == p.SHA256 {
			p.Filename = o.Filename // published already: keep its pool file
		}
		priv.debs = append(priv.debs, &p)
	}
	now := time.Now().UTC().Truncate(time.Second)
	spec := r.spec(priv.debs, now)
	if h.release != nil && !priv.newPubkey && upToDate(h.release, spec, r.validFor, now) {
		return &resource.Diff{Action: resource.NoOp}, nil
	}

	d := &resource.Diff{Action: resource.Update, Private: priv}
	if h.current == "" {
		d.Action = resource.Create
		d.Changes = append(d.Changes, resource.Change{Field: "suite", New: r.suite + "/" + r.component + " in " + r.path})
	}
	d.Changes = append(d.Changes, packageChanges(h.pkgs, priv.debs)...)
	if h.release != nil {
		want, _, err := spec.release()
		if err != nil {
			return nil, err
		}
		d.Changes = append(d.Changes, settingChanges(h.release, want, r.validFor, now)...)
	}
	if priv.newPubkey {
		old := "(none)"
		if len(h.pubkey) > 0 {
			old = "same key, other export (new expiry?)"
		}
		d.Changes = append(d.Changes, resource.Change{Field: "pubkey.asc", Old: old, New: "key " + r.key.Fingerprint()})
	}
	d.Changes = append(d.Changes, resource.Change{Field: "snapshot", Old: h.current, New: "(new, ID known after apply)"})
	return d, nil
}

func (r *AptRepo) spec(debs []*Package, now time.Time) *suiteSpec {
	s := &suiteSpec{Suite: r.suite, Origin: r.settings.Origin, Label: r.settings.Label, Architectures: r.settings.Architectures,
		Components: map[string][]*Package{r.component: debs}, Date: now}
	if r.validFor > 0 {
		s.ValidUntil = now.Add(r.validFor)
	}
	return s
}

// upToDate reports whether a published Release lists what spec would, with
// Valid-Until (if any) not yet half way to expiry.
func upToDate(have *Release, spec *suiteSpec, validFor time.Duration, now time.Time) bool {
	want, _, err := spec.release()
	if err != nil {
		return false
	}
	if validFor == 0 && !have.ValidUntil.IsZero() || validFor > 0 && have.ValidUntil.Sub(now) < validFor/2 {
		return false
	}
	return sameRelease(have, want)
}

// packageChanges lists, by name and architecture, what the new snapshot
// adds, upgrades, replaces and drops.
func packageChanges(host map[string]*Package, debs []*Package) []resource.Change {
	var out []resource.Change
	want := map[string]bool{}
	for _, p := range debs {
		key := p.Name + " (" + p.Architecture + ")"
		want[p.Name+"/"+p.Architecture] = true
		switch o := host[p.Name+"/"+p.Architecture]; {
		case o == nil:
			out = append(out, resource.Change{Field: "package " + key, New: p.Version})
		case o.Version != p.Version:
			out = append(out, resource.Change{Field: "package " + key, Old: o.Version, New: p.Version})
		case o.SHA256 != p.SHA256:
			out = append(out, resource.Change{Field: "package " + key, Old: o.Version + " (sha256 " + short(o.SHA256) + ")", New: p.Version + " (sha256 " + short(p.SHA256) + ")"})
		}
	}
	for k, o := range host {
		if !want[k] {
			out = append(out, resource.Change{Field: "package " + o.Name + " (" + o.Architecture + ")", Old: o.Version, New: "(removed)"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// settingChanges lists the Release fields that differ, and a renewal.
func settingChanges(have, want *Release, validFor time.Duration, now time.Time) []resource.Change {
	var out []resource.Change
	for _, f := range []struct{ name, old, new string }{
		{"origin", have.Origin, want.Origin},
		{"label", have.Label, want.Label},
		{"architectures", strings.Join(have.Architectures, " "), strings.Join(want.Architectures, " ")},
		{"components", strings.Join(have.Components, " "), strings.Join(want.Components, " ")},
	} {
		if f.old != f.new {
			out = append(out, resource.Change{Field: f.name, Old: f.old, New: f.new})
		}
	}
	switch {
	case validFor == 0 && !have.ValidUntil.IsZero():
		out = append(out, resource.Change{Field: "valid until", Old: have.ValidUntil.Format(time.RFC3339), New: "(none)"})
	case validFor > 0 && have.ValidUntil.Sub(now) < validFor/2:
		old := "(none)"
		if !have.ValidUntil.IsZero() {
			old = have.ValidUntil.Format(time.RFC3339)
		}
		out = append(out, resource.Change{Field: "valid until", Old: old, New: "renewed for " + validFor.String()})
	}
	return out
}

// carried are the earlier snapshots of the suite whose indexes the new one
// keeps in by-hash: those that stay after pruning, and the current one.
func (h *hostState) carried(suite string, keep int) []string {
	cur := map[string]bool{h.current: h.current != ""}
	return keptIDs(h.snaps, suite, keep-1, cur)
}

func (h *hostState) ids() []string {
	ids := make([]string, 0, len(h.snaps))
	for id := range h.snaps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
