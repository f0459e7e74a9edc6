package aptsource

import (
	"fmt"

	"github.com/aymanbagabas/go-udiff"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/modules/internal/textdiff"
)

// Private is what Apply needs from the plan.
type Private struct {
	Write  []string // labels of the files to write: "sources", "asc", "gpg"
	Remove []string // labels of the files to remove
	Update bool     // refresh this source's apt lists afterwards
}

// Plan compares the files on the host with the desired ones.
func (s *Source) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	seen, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("apt_source %s: %w", s.name, err)
	}
	for _, l := range labels {
		if err := s.checkType(l, seen[l]); err != nil {
			return nil, err
		}
	}
	d := &resource.Diff{Action: resource.Update}
	priv := &Private{}
	for _, l := range labels {
		f := seen[l]
		switch {
		case s.want(l) != "":
			ch := s.fileChanges(l, f)
			if len(ch) > 0 {
				d.Changes = append(d.Changes, ch...)
				priv.Write = append(priv.Write, l)
			}
		case f.typ == "file":
			d.Changes = append(d.Changes, resource.Change{Field: s.what(l), Old: s.path(l), New: "(removed)"})
			priv.Remove = append(priv.Remove, l)
		}
	}
	if len(d.Changes) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	switch {
	case s.absent:
		d.Action = resource.Delete
	case seen["sources"].typ == "none":
		d.Action = resource.Create
	}
	if seen["sources"].typ == "none" || contains(priv.Write, "sources") {
		d.TextDiff = s.textDiff(seen["sources"])
	}
	if len(priv.Write) > 0 && s.update && s.enabled {
		priv.Update = true
		d.Changes = append(d.Changes, resource.Change{Field: "apt lists", New: "apt-get update of this source"})
	}
	d.Private = priv
	return d, nil
}

// checkType refuses what pinery does not replace or remove: it manages
// regular files only.
func (s *Source) checkType(l string, f *fileState) error {
	switch f.typ {
	case "none", "file":
		return nil
	case "unreadable":
		return fmt.Errorf("cannot read %s on the host (its permissions?)", s.path(l))
	}
	what := map[string]string{"dir": "a directory", "link": "a symbolic link", "other": "a special file"}[f.typ]
	return fmt.Errorf("%s is %s, not a regular file; pinery manages a regular file there: remove it first", s.path(l), what)
}

// what names a file in the plan.
func (s *Source) what(l string) string {
	if l == "sources" {
		return "sources"
	}
	return "signing_key"
}

// fileChanges lists how a file that should exist differs. A key shows
// as its fingerprints, never its content; the .sources file by size and
// checksum (its content is in the text diff).
func (s *Source) fileChanges(l string, f *fileState) []resource.Change {
	if l != "sources" {
		return s.keyChanges(f)
	}
	if f.typ == "none" {
		return []resource.Change{{Field: "sources", New: s.sourcesPath()}}
	}
	var ch []resource.Change
	if f.sum != s.sum {
		c := resource.Change{Field: "sources", Old: short(f.size, f.sum), New: short(int64(len(s.content)), s.sum)}
		if s.sensitive {
			c = resource.Change{Field: "sources", Sensitive: true}
		}
		ch = append(ch, c)
	}
	return append(ch, modeChange("sources", f)...)
}

func (s *Source) keyChanges(f *fileState) []resource.Change {
	now := s.key.fprs + " (" + s.keyPath(s.key.ext) + ")"
	if f.typ == "none" {
		return []resource.Change{{Field: "signing_key", New: now}}
	}
	var ch []resource.Change
	if f.sum != s.key.sum {
		old := "unreadable key, " + short(f.size, f.sum)
		if f.fetched {
			if k, err := parseKey(f.content, false); err == nil {
				old = k.fprs
			}
		}
		if old == s.key.fprs {
			now = s.key.fprs + " (same keys, other content: " + short(int64(len(s.key.data)), s.key.sum) + ")"
		}
		ch = append(ch, resource.Change{Field: "signing_key", Old: old, New: now})
	}
	return append(ch, modeChange("signing_key", f)...)
}

// modeChange is a change of mode or owner: apt needs the files readable
// by its unprivileged _apt user, and root's only to write.
func modeChange(field string, f *fileState) []resource.Change {
	if f.mode == 0o644 && f.uid == "0" && f.gid == "0" {
		return nil
	}
	return []resource.Change{{Field: field + " mode", Old: fmt.Sprintf("%04o %s:%s", f.mode, f.uid, f.gid), New: "0644 0:0"}}
}

func short(size int64, sum string) string {
	return fmt.Sprintf("%d bytes, sha256 %s", size, sum[:12])
}

// textDiff shows the .sources file's change, unless part of it is
// sensitive.
func (s *Source) textDiff(f *fileState) string {
	if s.sensitive {
		return ""
	}
	label := textdiff.Label(s.sourcesPath())
	switch {
	case f.typ == "none":
		return udiff.Unified("/dev/null", label, "", string(s.content))
	case f.fetched && textdiff.IsText(f.content):
		return udiff.Unified(label, label, string(f.content), string(s.content))
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
