package build

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// keyFormat is part of every key: a change of what a build means (the
// scripts, the layout) changes it and rebuilds everything once.
const keyFormat = "pinery-build/1"

// inputs are what the builder's result depends on. They are recorded on
// the builder (buildsDir/NAME/key, one name=value per line) so that a plan
// can say which one changed.
type inputs struct {
	Key     string // sha256 over the others
	Source  string
	Script  string // sha256:HEX
	Depends string // the package names, or sha256:HEX when sensitive
	Arch    string
}

func (b *Build) inputs(arch string) inputs {
	in := inputs{
		Source:  b.src.digest,
		Script:  "sha256:" + sha256Of(b.script),
		Depends: strings.Join(b.deps, " "),
		Arch:    arch,
	}
	if b.sensitive["build_depends"] {
		in.Depends = "sha256:" + sha256Of(b.deps...)
	}
	in.Key = sha256Of(keyFormat, in.Source, in.Script, strings.Join(b.deps, " "), in.Arch)
	return in
}

func (in inputs) String() string {
	return fmt.Sprintf("key=%s\nsource=%s\nscript=%s\ndepends=%s\narch=%s\n", in.Key, in.Source, in.Script, in.Depends, in.Arch)
}

// spec is what the controller makes of the builder's result, as JSON:
// the packaging fields and the artifacts.
func (b *Build) spec() string {
	out, _ := json.Marshal(struct {
		Deb       *debSpec `json:"deb"`
		Artifacts []string `json:"artifacts"`
	}{b.deb, b.artifacts})
	return string(out)
}

// outputKey adds the spec to the builder's key: a new package version or
// depends repackages, it does not rebuild.
func (b *Build) outputKey(buildKey string) string {
	return sha256Of(keyFormat, buildKey, b.spec())
}

// Probe prints the builder's architecture and what it last built:
//
//	arch=ARCH
//	dest=1                  the last build's DESTDIR is kept
//	built.key=HEX           the lines of the key file, if any
//	built.source=...
func (b *Build) Probe() string {
	return fmt.Sprintf(`d=%s
command -v dpkg >/dev/null 2>&1 || { echo nodpkg; exit 0; }
echo "arch=$(dpkg --print-architecture)"
[ -d "$d/dest" ] && echo dest=1
if [ -f "$d/key" ]; then
  while IFS= read -r l; do echo "built.$l"; done <"$d/key"
fi
:
`, shellescape.Quote(b.hostDir))
}

type probe struct {
	arch  string
	dest  bool
	built map[string]string // the builder's key file, nil if none
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out.Stdout), "\n"), "\n") {
		if line == "nodpkg" {
			return nil, errors.New("the builder has no dpkg: builds need a Debian (or derived) host")
		}
		k, v, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("malformed probe output line %q", line)
		case k == "arch":
			p.arch = v
		case k == "dest":
			p.dest = true
		case strings.HasPrefix(k, "built."):
			if p.built == nil {
				p.built = map[string]string{}
			}
			p.built[k[len("built."):]] = v
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	if !debArchRE.MatchString(p.arch) {
		return nil, fmt.Errorf("malformed probe output: architecture %q", p.arch)
	}
	return p, nil
}

// Private is what Apply needs from the plan.
type Private struct {
	Build bool   `json:"build"` // run the build; else only collect its output again
	Arch  string `json:"arch"`  // the builder's, as planned
}

// Plan compares what the controller holds, and what the builder last
// built, with the desired inputs. Output that matches them is enough:
// the builder's copy is only a cache for repackaging.
func (b *Build) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", b.name, err)
	}
	in := b.inputs(p.arch)
	okey := b.outputKey(in.Key)
	rec, recErr := readRecord(b.recordPath(p.arch))
	if recErr == nil && rec.Key == okey && b.intact(rec) {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	builderOK := p.built["key"] == in.Key && p.dest
	d := &resource.Diff{Action: resource.Update, Private: &Private{Build: !builderOK, Arch: p.arch}}
	if !builderOK {
		d.Changes = b.buildChanges(p, in)
	}
	oc := resource.Change{Field: "output", New: b.outputSummary(p.arch)}
	switch {
	case errors.Is(recErr, os.ErrNotExist):
		d.Action = resource.Create
	case recErr != nil:
		d.Action, oc.Old = resource.Create, "unreadable record"
	case rec.Key == okey:
		oc.Old = "changed or missing files"
	default:
		d.Changes = append(d.Changes, b.specChanges(rec.Spec)...)
		sameNames := b.deb == nil || slices.Contains(rec.names(), b.deb.fileName(p.arch))
		switch {
		case sameNames && len(d.Changes) > 0:
			return d, nil // the changes above say it all
		case sameNames:
			oc.Old = "from another build"
		default:
			oc.Old = strings.Join(rec.names(), ", ")
		}
	}
	d.Changes = append(d.Changes, oc)
	return d, nil
}

// specChanges lists the packaging fields that differ from the record's.
func (b *Build) specChanges(recorded string) []resource.Change {
	flat := func(spec string) map[string]any {
		var v struct {
			Deb       map[string]any `json:"deb"`
			Artifacts any            `json:"artifacts"`
		}
		_ = json.Unmarshal([]byte(spec), &v)
		m := map[string]any{"artifacts": v.Artifacts}
		for k, x := range v.Deb {
			m["deb_"+k] = x
		}
		return m
	}
	old, cur := flat(recorded), flat(b.spec())
	var names []string
	for k := range old {
		names = append(names, k)
	}
	for k := range cur {
		if _, ok := old[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var cs []resource.Change
	for _, k := range names {
		if o, n := showValue(old[k]), showValue(cur[k]); o != n {
			cs = append(cs, resource.Change{Field: k, Old: o, New: n, Sensitive: b.sensitive[k]})
		}
	}
	return cs
}

// showValue renders a spec value for the plan: lists joined, scripts by
// name and digest.
func showValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		var parts []string
		for _, x := range v {
			parts = append(parts, showValue(x))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		var parts []string
		for k, x := range v {
			parts = append(parts, k+" sha256:"+sha256Of(showValue(x))[:12])
		}
		slices.Sort(parts)
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// buildChanges says why the builder must build.
func (b *Build) buildChanges(p *probe, in inputs) []resource.Change {
	if p.built == nil {
		return []resource.Change{{Field: "build", New: "on " + p.arch + " in " + b.hostDir}}
	}
	var cs []resource.Change
	for _, f := range []struct{ name, old, new string }{
		{"source", p.built["source"], in.Source}, {"script", p.built["script"], in.Script},
		{"build_depends", p.built["depends"], in.Depends}, {"arch", p.built["arch"], in.Arch},
	} {
		if f.old != f.new {
			sens := b.sensitive[f.name]
			if f.name == "source" {
				sens = b.sensitive["source_dir"] || b.sensitive["source_url"] || b.sensitive["source_sha256"] || b.sensitive["source_git"] || b.sensitive["source_ref"]
			}
			cs = append(cs, resource.Change{Field: f.name, Old: short(f.old), New: short(f.new), Sensitive: sens})
		}
	}
	if len(cs) == 0 {
		why := "format " + keyFormat
		if p.built["key"] == in.Key {
			why = "its output was removed"
		}
		cs = append(cs, resource.Change{Field: "build", Old: "done, " + why, New: "rebuild"})
	}
	return cs
}

// short abbreviates digests for plan text: "tree:0123456789ab".
func short(s string) string {
	if k, v, ok := strings.Cut(s, ":"); ok && len(v) > 12 && !strings.Contains(v, " ") {
		return k + ":" + v[:12]
	}
	return s
}

// outputSummary names what will be in output_dir.
func (b *Build) outputSummary(arch string) string {
	var parts []string
	if b.deb != nil {
		parts = append(parts, b.deb.fileName(arch))
	}
	if len(b.artifacts) > 0 {
		parts = append(parts, "artifacts "+strings.Join(b.artifacts, " ")+" in "+arch+"/")
	}
	return strings.Join(parts, ", ")
}

// record is the controller's account of a build's output, written last
// (OUTPUT/NAME_ARCH.buildkey):
//
//	pinery-build/1
//	key=HEX         the output key
//	build=HEX       the builder's key
//	spec=JSON       the packaging fields and artifacts
//	file=SHA256 REL one per file written, relative to output_dir
type record struct {
	Key, Build, Spec string
	Files            [][2]string // sha256, relative name
}

func (b *Build) recordPath(arch string) string {
	return filepath.Join(b.outDir, b.name+"_"+arch+".buildkey")
}

func (b *Build) logPath(arch string) string {
	return filepath.Join(b.outDir, b.name+"_"+arch+".log")
}

func (r *record) encode() []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\nkey=%s\nbuild=%s\nspec=%s\n", keyFormat, r.Key, r.Build, r.Spec)
	for _, f := range r.Files {
		fmt.Fprintf(&buf, "file=%s %s\n", f[0], f[1])
	}
	return buf.Bytes()
}

func (r *record) names() []string {
	var out []string
	for _, f := range r.Files {
		out = append(out, f[1])
	}
	return out
}

func readRecord(p string) (*record, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() || sc.Text() != keyFormat {
		return nil, fmt.Errorf("%s: not a %s record", p, keyFormat)
	}
	r := &record{}
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "key":
			r.Key = v
		case "build":
			r.Build = v
		case "spec":
			r.Spec = v
		case "file":
			sum, rel, ok := strings.Cut(v, " ")
			if !ok || !sha256RE.MatchString(sum) || !localName(rel) {
				return nil, fmt.Errorf("%s: malformed line %q", p, sc.Text())
			}
			r.Files = append(r.Files, [2]string{sum, rel})
		default:
			return nil, fmt.Errorf("%s: malformed line %q", p, sc.Text())
		}
	}
	return r, sc.Err()
}

// localName accepts a clean relative name that stays in output_dir.
func localName(rel string) bool {
	return rel != "" && filepath.IsLocal(rel) && filepath.Clean(rel) == rel
}

// intact reports whether every file of the record is there, unchanged.
func (b *Build) intact(r *record) bool {
	for _, f := range r.Files {
		if sum, err := fileSHA256(filepath.Join(b.outDir, f[1])); err != nil || sum != f[0] {
			return false
		}
	}
	return len(r.Files) > 0
}
