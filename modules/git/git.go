// Package git is the `git` resource type: a git checkout at a ref.
package git

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// maxDirty is how many changed files a plan error names.
const maxDirty = 5

// remoteTimeout bounds git ls-remote in the probe, in seconds.
const remoteTimeout = 60

func init() {
	resource.Register(&resource.Type{
		Name:    "git",
		Summary: "A git checkout at a branch, tag or commit.",
		Doc: `Keeps a git working tree at ` + "`destination`" + ` checked out at the commit ` + "`ref`" + ` names in
` + "`repository`" + `. The checkout is detached (` + "`git checkout --detach`" + `): no local branch is
created or moved, so ` + "`git status`" + ` on the target says "HEAD detached at …".

**The ref.** ` + "`ref`" + ` defaults to ` + "`\"HEAD\"`" + `, the remote's default branch, as ` + "`git clone`" + `
would check out. A branch name follows the branch: every plan asks the remote where
it is now (` + "`git ls-remote`" + `, which reads and changes nothing) and the plan shows
` + "`commit: abc1234 → def5678`" + ` when it moved. A tag names the commit it points to
(annotated tags are peeled). A name that is both a branch and a tag is an error: write
` + "`refs/heads/NAME`" + ` or ` + "`refs/tags/NAME`" + `. A full 40-character commit hash is a commit, used
as it is (the server must allow fetching it by hash, as GitHub, GitLab and git over
ssh with protocol v2 do); abbreviated hashes cannot be resolved without a clone and are
looked up as names. If the remote cannot be reached, or the ref is not there, the plan
fails, saying so.

**A new checkout** is cloned into a temporary directory beside ` + "`destination`" + ` and renamed
into place, so a failed or interrupted clone leaves nothing at ` + "`destination`" + `. An empty
directory at ` + "`destination`" + ` is replaced; anything else that is not a git working tree
is an error. The parent directory must exist.

**An existing checkout** is fetched (the ref only) and checked out at the new commit.
Its ` + "`origin`" + ` remote is set to ` + "`repository`" + ` when it differs. Local changes to tracked
files (staged or not) are an error at plan time naming the changed files, unless
` + "`force = true`" + `, which discards them (` + "`git checkout --force`" + `, like ` + "`git reset --hard`" + `):
with ` + "`force`" + ` a dirty tree is a change even when the commit is right. Untracked files are
never removed; without ` + "`force`" + ` a checkout that would overwrite one fails.

With ` + "`depth`" + ` the clone and the fetches are shallow (` + "`--depth`" + `): only that many commits
of history are downloaded.

git must be installed on the target (the plan says "install git (package git) first"
otherwise); a ` + "`pkg`" + ` resource for it must be applied in an earlier run, since the plan of
this resource runs git. Commands run as the connection's user (root); private
repositories need credentials that user has (an ssh key and known_hosts for ` + "`git@…`" + `
URLs: ssh runs in batch mode and never prompts).`,
		Example: `git "render_app" {
  repository = "https://git.example.org/render/app.git"
  destination = "/srv/render/app"
  ref        = "v2.4.1"
  depth      = 1
}

git "dotfiles" {
  repository  = "/srv/git/dotfiles.git"
  destination = "/root/dotfiles"
  ref         = "main"
  force       = true
}`,
		Fields: []resource.Field{
			{Name: "repository", Type: cty.String, Required: true,
				Doc: "The remote: a URL (`https://…`, `ssh://…`, `git@host:path`) or a path on the target."},
			{Name: "destination", Type: cty.String, Required: true,
				Doc: "Absolute path of the working tree on the target."},
			{Name: "ref", Type: cty.String, Default: cty.StringVal("HEAD"),
				Doc: "A branch, a tag, a full ref name (`refs/heads/main`) or a full 40-character commit hash. `\"HEAD\"` (the default) is the remote's default branch."},
			{Name: "depth", Type: cty.Number,
				Doc: "Make a shallow clone and fetches with this many commits of history (1 or more)."},
			{Name: "force", Type: cty.Bool, Default: cty.False,
				Doc: "Discard local changes to tracked files. Without it a checkout with local changes is a plan error."},
		},
		New: New,
	})
}

// Git is one configured checkout.
type Git struct {
	repo, dest, ref string
	commit          bool // ref is a full commit hash
	depth           int64
	force           bool
}

var _ resource.Resource = (*Git)(nil)

var hashRE = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// New validates a git block.
func New(cfg resource.Config) (resource.Resource, error) {
	g := &Git{force: cfg.Bool("force")}
	g.repo = cfg.String("repository")
	switch {
	case g.repo == "":
		return nil, cfg.Errorf("repository", "must not be empty")
	case strings.ContainsAny(g.repo, "\x00\n\r"):
		return nil, cfg.Errorf("repository", "must not contain a NUL byte or a line break")
	case strings.HasPrefix(g.repo, "-"):
		return nil, cfg.Errorf("repository", "must not start with -; write ./%s for a relative path", g.repo)
	}
	p := cfg.String("destination")
	switch {
	case p == "":
		return nil, cfg.Errorf("destination", "must not be empty")
	case strings.ContainsAny(p, "\x00\n\r"):
		return nil, cfg.Errorf("destination", "must not contain a NUL byte or a line break")
	case !strings.HasPrefix(p, "/"):
		return nil, cfg.Errorf("destination", "must be an absolute path (starting with /), not %q", p)
	case p == "/":
		return nil, cfg.Errorf("destination", "must name a directory, not /")
	case filepath.Clean(p) != p:
		return nil, cfg.Errorf("destination", "must be a clean path: write %q, not %q", filepath.Clean(p), p)
	}
	g.dest = p
	g.ref = cfg.String("ref")
	switch {
	case g.ref == "":
		return nil, cfg.Errorf("ref", "must not be empty; leave it out for the remote's default branch")
	case !validRef(g.ref):
		return nil, cfg.Errorf("ref", "%q is not a valid branch, tag or commit name (see git check-ref-format)", g.ref)
	}
	g.commit = hashRE.MatchString(g.ref)
	if cfg.IsSet("depth") {
		v := cfg.Values["depth"]
		if v.IsKnown() && !v.AsBigFloat().IsInt() {
			return nil, cfg.Errorf("depth", "must be a whole number, not %s", v.AsBigFloat().String())
		}
		g.depth = cfg.Int("depth")
		if g.depth < 1 {
			return nil, cfg.Errorf("depth", "must be 1 or more, not %d; leave it out for the full history", g.depth)
		}
	}
	return g, nil
}

// validRef applies git check-ref-format's rules for a branch or tag name,
// and refuses a leading dash (an option to git): a name git cannot have is
// an error here, not a missing ref at plan time.
func validRef(r string) bool {
	if r == "" || r == "@" || r[0] == '-' || r[0] == '/' || strings.HasSuffix(r, "/") || strings.HasSuffix(r, ".") ||
		strings.Contains(r, "..") || strings.Contains(r, "//") || strings.Contains(r, "@{") ||
		strings.ContainsAny(r, " ~^:?*[\\\x7f") || strings.IndexFunc(r, func(c rune) bool { return c < 0x20 }) >= 0 {
		return false
	}
	for _, c := range strings.Split(r, "/") {
		if strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock") {
			return false
		}
	}
	return true
}

// patterns are what ls-remote is asked for.
func (g *Git) patterns() []string {
	switch {
	case g.commit || g.ref == "HEAD":
		return []string{"HEAD"}
	case strings.HasPrefix(g.ref, "refs/"):
		return []string{g.ref, g.ref + "^{}"}
	}
	return []string{"refs/heads/" + g.ref, "refs/tags/" + g.ref, "refs/tags/" + g.ref + "^{}"}
}

// Probe prints, without changing anything:
//
//	git=0|1                     whether git is installed
//	type=none|empty|repo|other  what is at destination
//	error=MESSAGE               git failed on what looks like a checkout
//	head=HASH                   its HEAD commit (empty before the first commit)
//	url=URL                     its origin remote
//	dirty=LINE                  up to maxDirty lines of git status --porcelain
//	dirty_count=N
//	remote_error=MESSAGE        git ls-remote failed
//	ls=HASH<TAB>REF             what ls-remote printed
func (g *Git) Probe() string {
	var b strings.Builder
	qs := make([]string, 0, 3)
	for _, p := range g.patterns() {
		qs = append(qs, shellescape.Quote(p))
	}
	fmt.Fprintf(&b, "d=%s\nr=%s\n", shellescape.Quote(g.dest), shellescape.Quote(g.repo))
	fmt.Fprintf(&b, `command -v git >/dev/null 2>&1 || { echo git=0; exit 0; }
echo git=1
GIT_OPTIONAL_LOCKS=0 GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=true; export GIT_OPTIONAL_LOCKS GIT_TERMINAL_PROMPT GIT_ASKPASS
: "${GIT_SSH_COMMAND:=ssh -o BatchMode=yes}"; export GIT_SSH_COMMAND
oneline() { tr '\n' ' ' | sed 's/ *$//'; echo; }
if [ -L "$d" ] || { [ -e "$d" ] && [ ! -d "$d" ]; }; then echo type=other
elif [ ! -e "$d" ]; then echo type=none
elif [ -z "$(ls -A -- "$d" 2>/dev/null)" ]; then echo type=empty
elif [ ! -e "$d/.git" ]; then echo type=other
elif ! o=$(git -C "$d" rev-parse --git-dir 2>&1); then echo type=repo; printf 'error=%%s' "$o" | oneline
elif [ "$o" != .git ]; then echo type=other
else
  echo type=repo
  printf 'head=%%s\n' "$(git -C "$d" rev-parse -q --verify 'HEAD^{commit}' 2>/dev/null)"
  # No oneline: blanks that end the URL are part of it.
  printf 'url=%%s' "$(git -C "$d" config --get remote.origin.url 2>/dev/null)" | tr '\n' ' '; echo
  if s=$(git -C "$d" status --porcelain --untracked-files=no 2>&1); then
    if [ -n "$s" ]; then printf '%%s\n' "$s" | head -n %d | sed 's/^/dirty=/'; fi
    printf 'dirty_count=%%s\n' "$(printf '%%s' "$s" | grep -c '')"
  else printf 'error=%%s' "$s" | oneline
  fi
fi
if o=$(timeout %d git ls-remote -- "$r" %s 2>&1 </dev/null); then
  [ -z "$o" ] || printf '%%s\n' "$o" | sed 's/^/ls=/'
else printf 'remote_error=%%s' "$o" | oneline
fi
`, maxDirty, remoteTimeout, strings.Join(qs, " "))
	return b.String()
}

type probe struct {
	git        bool
	typ        string
	err        string
	head, url  string
	dirty      []string
	dirtyCount int
	remoteErr  string
	refs       map[string]string // ref name → commit
	gotRemote  bool
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{refs: map[string]string{}}
	seenGit := false
	for _, line := range strings.Split(strings.TrimSuffix(string(out.Stdout), "\n"), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		switch k {
		case "git":
			p.git, seenGit = v == "1", true
		case "type":
			switch v {
			case "none", "empty", "repo", "other":
				p.typ = v
			default:
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
		case "error":
			p.err = v
		case "head":
			if v != "" && !hashRE.MatchString(v) {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.head = v
		case "url":
			p.url = v
		case "dirty":
			p.dirty = append(p.dirty, v)
		case "dirty_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.dirtyCount = n
		case "remote_error":
			p.remoteErr, p.gotRemote = v, true
			if p.remoteErr == "" {
				p.remoteErr = "git ls-remote failed"
			}
		case "ls":
			h, ref, ok := strings.Cut(v, "\t")
			if !ok || !hashRE.MatchString(h) {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.refs[ref] = h
			p.gotRemote = true
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	if !seenGit || (p.git && p.typ == "") {
		return nil, errors.New("malformed probe output: truncated")
	}
	return p, nil
}

// resolve finds the commit and the full ref name ref names in what
// ls-remote printed.
func (g *Git) resolve(refs map[string]string) (commit, name string, err error) {
	if g.commit {
		return g.ref, "", nil
	}
	lookup := func(n string) (string, bool) {
		if h, ok := refs[n+"^{}"]; ok {
			return h, true
		}
		h, ok := refs[n]
		return h, ok
	}
	if g.ref == "HEAD" || strings.HasPrefix(g.ref, "refs/") {
		if h, ok := lookup(g.ref); ok {
			return h, g.ref, nil
		}
		return "", "", fmt.Errorf("%s has no ref %q", g.repo, g.ref)
	}
	hb, okb := lookup("refs/heads/" + g.ref)
	ht, okt := lookup("refs/tags/" + g.ref)
	switch {
	case okb && okt:
		return "", "", fmt.Errorf("%q is both a branch and a tag in %s; write ref = \"refs/heads/%s\" or \"refs/tags/%s\"", g.ref, g.repo, g.ref, g.ref)
	case okb:
		return hb, "refs/heads/" + g.ref, nil
	case okt:
		return ht, "refs/tags/" + g.ref, nil
	}
	msg := fmt.Sprintf("%s has no branch or tag %q", g.repo, g.ref)
	if regexp.MustCompile(`^[0-9a-f]{7,39}$`).MatchString(g.ref) {
		msg += "; for a commit, give its full 40-character hash"
	}
	return "", "", errors.New(msg)
}

// Private is what Apply needs from the plan.
type Private struct {
	Clone   bool   `json:"clone,omitempty"`   // a new checkout
	Replace bool   `json:"replace,omitempty"` // an empty directory is in the way
	Commit  string `json:"commit"`
	RefName string `json:"ref_name,omitempty"` // what to fetch; empty for a commit hash
	SetURL  bool   `json:"set_url,omitempty"`
	Discard bool   `json:"discard,omitempty"`
}

func short(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

// Plan compares the checkout with the commit the ref resolves to.
func (g *Git) Plan(out resource.ProbeResult) (*resource.Diff, error) {
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("git %q: %w", g.dest, err)
	}
	if !p.git {
		return nil, fmt.Errorf("git %q: git is not installed on the target; install git (package git) first", g.dest)
	}
	switch p.typ {
	case "other":
		return nil, fmt.Errorf("%q exists and is not a git working tree (nor an empty directory); remove it or choose another destination", g.dest)
	case "repo":
		if p.err != "" {
			return nil, fmt.Errorf("git cannot read the checkout %q: %s", g.dest, p.err)
		}
	}
	if p.remoteErr != "" {
		return nil, fmt.Errorf("cannot reach the repository %s from the target (git ls-remote): %s", g.repo, p.remoteErr)
	}
	if !p.gotRemote && g.ref == "HEAD" {
		return nil, fmt.Errorf("the repository %s has no ref %q (git ls-remote printed nothing; is it empty?)", g.repo, g.ref)
	}
	commit, name, err := g.resolve(p.refs)
	if err != nil {
		return nil, err
	}
	priv := &Private{Commit: commit, RefName: name}
	if p.typ == "none" || p.typ == "empty" {
		priv.Clone, priv.Replace = true, p.typ == "empty"
		return &resource.Diff{Action: resource.Create, Private: priv, Changes: []resource.Change{
			{Field: "repository", New: g.repo},
			{Field: "commit", New: short(commit)},
		}}, nil
	}
	d := &resource.Diff{Action: resource.Update, Private: priv}
	if p.dirtyCount > 0 {
		if !g.force {
			files := strings.Join(p.dirty, ", ")
			if p.dirtyCount > len(p.dirty) {
				files += fmt.Sprintf(" and %d more", p.dirtyCount-len(p.dirty))
			}
			return nil, fmt.Errorf("the checkout %q has local changes (%s); commit or revert them, or set force = true to discard them", g.dest, files)
		}
		priv.Discard = true
		d.Changes = append(d.Changes, resource.Change{Field: "local changes", Old: fmt.Sprintf("%d files", p.dirtyCount), New: "discarded"})
	}
	if p.url != g.repo {
		priv.SetURL = true
		d.Changes = append(d.Changes, resource.Change{Field: "repository", Old: p.url, New: g.repo})
	}
	if p.head != commit {
		old := short(p.head)
		if old == "" {
			old = "(no commit)"
		}
		d.Changes = append(d.Changes, resource.Change{Field: "commit", Old: old, New: short(commit)})
	}
	if len(d.Changes) == 0 {
		return &resource.Diff{Action: resource.NoOp}, nil
	}
	return d, nil
}

// Apply clones or updates the checkout as the plan says.
func (g *Git) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("git %q: the plan carries no git changes", g.dest)
	}
	res, err := h.Run(ctx, g.applyScript(priv), nil)
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case 3:
		return fmt.Errorf("cannot clone into %q: its directory %q does not exist; declare a directory resource for it (and depend on it)", g.dest, filepath.Dir(g.dest))
	case 5:
		return fmt.Errorf("%q has changed since the plan; plan again", g.dest)
	case 6:
		return fmt.Errorf("the commit %s is not in what was fetched from %s (the ref moved since the plan?); plan again", short(priv.Commit), g.repo)
	}
	what := "updating the checkout"
	if priv.Clone {
		what = "cloning into"
	}
	return res.Err(fmt.Sprintf("%s %q", what, g.dest))
}

// applyScript fetches into a new repository in a temporary directory
// beside destination and renames it into place, or fetches into the
// existing checkout and checks the planned commit out.
func (g *Git) applyScript(priv *Private) string {
	var b strings.Builder
	fmt.Fprintf(&b, "d=%s\np=%s\nr=%s\nc=%s\n", shellescape.Quote(g.dest), shellescape.Quote(filepath.Dir(g.dest)),
		shellescape.Quote(g.repo), priv.Commit)
	b.WriteString(`GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=true; export GIT_TERMINAL_PROMPT GIT_ASKPASS
: "${GIT_SSH_COMMAND:=ssh -o BatchMode=yes}"; export GIT_SSH_COMMAND
exec </dev/null
`)
	fetch := "git -C \"$w\" fetch -q --no-tags"
	if g.depth > 0 {
		fetch += fmt.Sprintf(" --depth %d", g.depth)
	}
	fetch += " origin -- "
	if priv.RefName != "" {
		fetch += shellescape.Quote("+" + priv.RefName + ":refs/pinery/fetched")
	} else {
		fetch += "\"$c\""
	}
	fetch += " || exit 1\ngit -C \"$w\" cat-file -e \"$c^{commit}\" 2>/dev/null || exit 6\n"
	if priv.Clone {
		if priv.Replace {
			b.WriteString("[ -d \"$d\" ] && [ ! -L \"$d\" ] && [ -z \"$(ls -A -- \"$d\")\" ] || exit 5\n")
		} else {
			b.WriteString("if [ -e \"$d\" ] || [ -L \"$d\" ]; then exit 5; fi\n")
		}
		b.WriteString(`[ -d "$p" ] || exit 3
w=$(mktemp -d -- "$p/.pinery-XXXXXXXXXX") || exit 1
trap 'rm -rf -- "$w"' EXIT
trap 'exit 1' HUP INT TERM
chmod 0755 "$w" || exit 1
git init -q -- "$w" || exit 1
git -C "$w" remote add origin "$r" || exit 1
`)
		b.WriteString(fetch)
		b.WriteString(`git -C "$w" -c advice.detachedHead=false checkout -q --detach "$c" || exit 1
git -C "$w" update-ref -d refs/pinery/fetched 2>/dev/null
`)
		if priv.Replace {
			b.WriteString("rmdir -- \"$d\" || exit 5\n")
		}
		b.WriteString("mv -T -- \"$w\" \"$d\" || exit 1\ntrap - EXIT\n")
		return b.String()
	}
	b.WriteString("w=$d\n[ -e \"$d/.git\" ] || exit 5\n")
	if priv.SetURL {
		b.WriteString("git -C \"$w\" remote set-url origin \"$r\" 2>/dev/null || git -C \"$w\" remote add origin \"$r\" || exit 1\n")
	}
	b.WriteString("if ! git -C \"$w\" cat-file -e \"$c^{commit}\" 2>/dev/null; then\n")
	b.WriteString(fetch)
	b.WriteString("fi\n")
	force := ""
	if priv.Discard {
		force = " --force"
	}
	fmt.Fprintf(&b, "git -C \"$w\" -c advice.detachedHead=false checkout -q%s --detach \"$c\" || exit 1\n", force)
	b.WriteString("git -C \"$w\" update-ref -d refs/pinery/fetched 2>/dev/null\n:\n")
	return b.String()
}
