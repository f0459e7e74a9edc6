package aptsource

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// maxFetch is the largest file whose content the probe sends back (for the
// text diff of the .sources file, the old key's fingerprints).
const maxFetch = 256 << 10

// The three files a source owns, by probe label.
var labels = []string{"sources", "asc", "gpg"}

func (s *Source) path(label string) string {
	if label == "sources" {
		return s.sourcesPath()
	}
	return s.keyPath(label)
}

// want is the sha256 the file should have, "" when it should not exist.
func (s *Source) want(label string) string {
	switch {
	case s.absent:
		return ""
	case label == "sources":
		return s.sum
	case s.key != nil && s.key.ext == label:
		return s.key.sum
	}
	return ""
}

// Probe prints, for each of the source's files, one line
//
//	LABEL=none|dir|link|other|unreadable
//	LABEL=file MODE UID GID SIZE SHA256
//
// and, when a file that should exist differs and is small, its content:
//
//	LABEL_base64=BASE64
func (s *Source) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, `f() {
  if [ -L "$2" ]; then echo "$1=link"; return; fi
  if [ -d "$2" ]; then echo "$1=dir"; return; fi
  if [ ! -e "$2" ]; then echo "$1=none"; return; fi
  if [ ! -f "$2" ]; then echo "$1=other"; return; fi
  s=$(stat -c '%%a %%u %%g %%s' -- "$2" 2>/dev/null) && h=$(sha256sum <"$2" 2>/dev/null) || { echo "$1=unreadable"; return; }
  h=${h%%%% *}
  echo "$1=file $s $h"
  case $3 in ''|"$h") return;; esac
  [ "${s##* }" -le %d ] || return
  printf '%%s_base64=' "$1"; base64 -w0 <"$2" && echo
}
`, maxFetch)
	for _, l := range labels {
		fmt.Fprintf(&b, "f %s %s %s\n", l, shellescape.Quote(s.path(l)), shellescape.Quote(s.want(l)))
	}
	return b.String()
}

// fileState is what the probe saw at one path.
type fileState struct {
	typ      string // none, file, dir, link, other, unreadable
	mode     int
	uid, gid string
	size     int64
	sum      string
	content  []byte
	fetched  bool
}

func parseProbe(out resource.ProbeResult) (map[string]*fileState, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	seen := map[string]*fileState{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out.Stdout), "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		if label, ok := strings.CutSuffix(k, "_base64"); ok {
			f := seen[label]
			if f == nil || f.typ != "file" || f.fetched {
				return nil, fmt.Errorf("unexpected probe output line for %s content", label)
			}
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("malformed %s content in the probe output: %v", label, err)
			}
			f.content, f.fetched = b, true
			continue
		}
		if !isLabel(k) || seen[k] != nil {
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
		f, err := parseState(v)
		if err != nil {
			return nil, fmt.Errorf("malformed probe output line %q: %v", line, err)
		}
		seen[k] = f
	}
	for _, l := range labels {
		if seen[l] == nil {
			return nil, fmt.Errorf("probe output has no line for %s (cut short?)", l)
		}
	}
	return seen, nil
}

func isLabel(s string) bool {
	for _, l := range labels {
		if s == l {
			return true
		}
	}
	return false
}

func parseState(v string) (*fileState, error) {
	switch v {
	case "none", "dir", "link", "other", "unreadable":
		return &fileState{typ: v}, nil
	}
	f := strings.Fields(v)
	if len(f) != 6 || f[0] != "file" {
		return nil, fmt.Errorf("want file MODE UID GID SIZE SHA256")
	}
	mode, err := strconv.ParseUint(f[1], 8, 32)
	if err != nil || mode > 0o7777 {
		return nil, fmt.Errorf("bad mode %q", f[1])
	}
	size, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("bad size %q", f[4])
	}
	if len(f[5]) != 64 || strings.Trim(f[5], "0123456789abcdef") != "" {
		return nil, fmt.Errorf("bad sha256 %q", f[5])
	}
	for _, id := range f[2:4] {
		if _, err := strconv.ParseUint(id, 10, 32); err != nil {
			return nil, fmt.Errorf("bad id %q", id)
		}
	}
	return &fileState{typ: "file", mode: int(mode), uid: f[2], gid: f[3], size: size, sum: f[5]}, nil
}
