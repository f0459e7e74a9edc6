package git

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

const (
	hA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	hC = "cccccccccccccccccccccccccccccccccccccccc"
)

func TestNewValidation(t *testing.T) {
	base := func(k string, v cty.Value) map[string]cty.Value {
		m := map[string]cty.Value{"repository": str("/srv/git/a.git"), "destination": str("/srv/a")}
		m[k] = v
		return m
	}
	tests := []struct {
		name, field, want string
		vals              map[string]cty.Value
	}{
		{"relative dest", "destination", "absolute", base("destination", str("srv/a"))},
		{"root dest", "destination", "not /", base("destination", str("/"))},
		{"unclean dest", "destination", `"/srv/a"`, base("destination", str("/srv/a/"))},
		{"empty repo", "repository", "empty", base("repository", str(""))},
		{"dash repo", "repository", "start with -", base("repository", str("-uhoh"))},
		{"empty ref", "ref", "default branch", base("ref", str(""))},
		{"bad ref", "ref", "not a valid", base("ref", str("a..b"))},
		{"dash ref", "ref", "not a valid", base("ref", str("--upload-pack=x"))},
		{"control character ref", "ref", "not a valid", base("ref", str("a\x7fb"))},
		{"dot component ref", "ref", "not a valid", base("ref", str("release/.hidden"))},
		{"lock ref", "ref", "not a valid", base("ref", str("main.lock"))},
		{"reflog ref", "ref", "not a valid", base("ref", str("main@{1}"))},
		{"double slash ref", "ref", "not a valid", base("ref", str("a//b"))},
		{"depth 0", "depth", "1 or more", base("depth", resource.Num(0))},
		{"depth 1.5", "depth", "whole number", base("depth", cty.NumberFloatVal(1.5))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %v, want field %s with %q", err, tt.field, tt.want)
			}
		})
	}
	if g := newGit(t, base("ref", str(hA))); !g.commit {
		t.Error("a 40-hex ref is not taken as a commit")
	}
	if g := newGit(t, base("ref", str("abc1234"))); g.commit {
		t.Error("a short hash is taken as a commit")
	}
}

func TestPlanTable(t *testing.T) {
	ls := func(lines ...string) string {
		s := ""
		for _, l := range lines {
			s += "ls=" + l + "\n"
		}
		return s
	}
	repo := "git=1\ntype=repo\nhead=" + hA + "\nurl=/srv/git/a.git\ndirty_count=0\n"
	tests := []struct {
		name, ref string
		force     bool
		out       string
		action    resource.Action
		changes   string
		priv      string
		err       string
	}{
		{name: "no git", out: "git=0\n", err: "install git (package git) first"},
		{name: "clone HEAD", out: "git=1\ntype=none\n" + ls(hB+"\tHEAD"), action: resource.Create,
			changes: "[{repository  /srv/git/a.git false} {commit  bbbbbbb false}]", priv: "{true false " + hB + " HEAD false false}"},
		{name: "clone into empty dir", ref: "main", out: "git=1\ntype=empty\n" + ls(hB+"\trefs/heads/main"), action: resource.Create,
			priv: "{true true " + hB + " refs/heads/main false false}"},
		{name: "annotated tag peeled", ref: "v1", out: repo + ls(hC+"\trefs/tags/v1", hA+"\trefs/tags/v1^{}"), action: resource.NoOp},
		{name: "branch moved", ref: "main", out: repo + ls(hB+"\trefs/heads/main"), action: resource.Update,
			changes: "[{commit aaaaaaa bbbbbbb false}]"},
		{name: "ambiguous", ref: "x", out: repo + ls(hB+"\trefs/heads/x", hA+"\trefs/tags/x"), err: "both a branch and a tag"},
		{name: "missing ref", ref: "nope", out: repo, err: `has no branch or tag "nope"`},
		{name: "empty repository", ref: "HEAD", out: repo, err: "is it empty?"},
		{name: "missing short hash", ref: "abc1234", out: repo + ls(hB+"\trefs/heads/main"), err: "full 40-character hash"},
		{name: "commit ref needs no name", ref: hB, out: repo + ls(hA+"\tHEAD"), action: resource.Update,
			priv: "{false false " + hB + "  false false}"},
		{name: "unreachable", out: repo + "remote_error=fatal: '/nope' does not appear to be a git repository\n", err: "cannot reach the repository /srv/git/a.git"},
		{name: "dirty refused", ref: "main", out: "git=1\ntype=repo\nhead=" + hA + "\nurl=/srv/git/a.git\ndirty= M a\ndirty=M  b\ndirty_count=7\n" + ls(hA+"\trefs/heads/main"),
			err: "local changes ( M a, M  b and 5 more); commit or revert them, or set force = true"},
		{name: "dirty forced, same commit", ref: "main", force: true, out: "git=1\ntype=repo\nhead=" + hA + "\nurl=/srv/git/a.git\ndirty= M a\ndirty_count=1\n" + ls(hA+"\trefs/heads/main"),
			action: resource.Update, changes: "[{local changes 1 files discarded false}]"},
		{name: "other url", ref: "main", out: "git=1\ntype=repo\nhead=" + hA + "\nurl=/old.git\ndirty_count=0\n" + ls(hA+"\trefs/heads/main"),
			action: resource.Update, changes: "[{repository /old.git /srv/git/a.git false}]"},
		{name: "not a checkout", out: "git=1\ntype=other\n", err: "not a git working tree"},
		{name: "git error", out: "git=1\ntype=repo\nerror=fatal: detected dubious ownership\n", err: "dubious"},
		{name: "truncated", out: "git=1\n", err: "truncated"},
		{name: "bad ls", out: repo + "ls=zz\tHEAD\n", err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]cty.Value{"repository": str("/srv/git/a.git"), "destination": str("/srv/a"), "force": cty.BoolVal(tt.force)}
			if tt.ref != "" {
				vals["ref"] = str(tt.ref)
			}
			d, err := newGit(t, vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v (%+v)", d.Action, tt.action, d)
			}
			if tt.changes != "" && fmt.Sprint(d.Changes) != tt.changes {
				t.Errorf("changes\n got %v\nwant %v", d.Changes, tt.changes)
			}
			if tt.priv != "" && fmt.Sprint(*d.Private.(*Private)) != tt.priv {
				t.Errorf("private\n got %v\nwant %v", *d.Private.(*Private), tt.priv)
			}
		})
	}
}

// TestFleetCheckout runs on h2: a bare repository made there, with a
// branch and tags, is checked out, moved, dirtied.
func TestFleetCheckout(t *testing.T) {
	h := fleettest.Dial(t, "h2")
	if res, _ := h.Run(context.Background(), "command -v git", nil); res.ExitCode != 0 {
		// A fresh board has no apt lists yet.
		run(t, h, "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	dir := "/tmp/pinery-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -rf -- "+dir, nil) })
	run(t, h, `set -e
d=`+dir+`
mkdir -p $d
git init -q --bare -b main $d/repo.git
git clone -q $d/repo.git $d/work 2>/dev/null
cd $d/work
git config user.email t@example.org; git config user.name t
echo one >f; git add f; git commit -q -m one; git tag -a v1 -m v1
echo two >f; git commit -q -am two; git tag v2
echo three >f; git commit -q -am three
git push -q origin main v1 v2`)
	commit := func(rev string) string {
		return strings.TrimSpace(run(t, h, "git -C "+dir+"/work rev-parse "+q(rev+"^{commit}")))
	}
	dest := dir + "/checkout"
	vals := func(ref string, force bool) map[string]cty.Value {
		return map[string]cty.Value{"repository": str(dir + "/repo.git"), "destination": str(dest), "ref": str(ref), "force": cty.BoolVal(force)}
	}
	head := func() string { return strings.TrimSpace(run(t, h, "git -C "+q(dest)+" rev-parse HEAD")) }

	d := converge(t, h, newGit(t, vals("v1", false)))
	if d.Action != resource.Create || head() != commit("v1") {
		t.Fatalf("clone at v1: %+v, head %s", d, head())
	}
	if got := run(t, h, "cat "+q(dest+"/f")+"; ls -A "+dir); got != "one\ncheckout\nrepo.git\nwork\n" {
		t.Fatalf("after clone: %q", got)
	}

	d = converge(t, h, newGit(t, vals("main", false)))
	if fmt.Sprint(d.Changes) != fmt.Sprintf("[{commit %s %s false}]", commit("v1")[:7], commit("main")[:7]) {
		t.Fatalf("move to main: %+v", d)
	}
	// The branch moves on the remote: the next plan follows it.
	run(t, h, "cd "+dir+"/work && echo four >f && git commit -q -am four && git push -q origin main")
	d = converge(t, h, newGit(t, vals("main", false)))
	if d.Action != resource.Update || head() != commit("main") {
		t.Fatalf("follow main: %+v", d)
	}

	// Local changes: refused without force, naming the file; discarded with it.
	run(t, h, "echo local >"+q(dest+"/f"))
	r := newGit(t, vals("v2", false))
	if _, err := r.Plan(runProbe(t, h, r)); err == nil || !strings.Contains(err.Error(), "M f") || !strings.Contains(err.Error(), "force = true") {
		t.Fatalf("dirty tree: want an error naming f, got %v", err)
	}
	d = converge(t, h, newGit(t, vals("v2", true)))
	if head() != commit("v2") || run(t, h, "cat "+q(dest+"/f")) != "two\n" {
		t.Fatalf("forced: %+v", d)
	}
	// Dirty at the right commit, with force: discarded too.
	run(t, h, "echo local >"+q(dest+"/f"))
	d = converge(t, h, newGit(t, vals("v2", true)))
	if d.Changes[0].Field != "local changes" || run(t, h, "cat "+q(dest+"/f")) != "two\n" {
		t.Fatalf("forced at same commit: %+v", d)
	}

	// A shallow clone of a commit hash.
	shallow := dir + "/shallow"
	d = converge(t, h, newGit(t, map[string]cty.Value{"repository": str(dir + "/repo.git"), "destination": str(shallow),
		"ref": str(commit("v2")), "depth": resource.Num(1)}))
	if got := run(t, h, "git -C "+q(shallow)+" rev-list --count HEAD"); got != "1\n" {
		t.Fatalf("shallow history: %q", got)
	}

	// An unreachable remote: the plan says so.
	r = newGit(t, map[string]cty.Value{"repository": str(dir + "/nope.git"), "destination": str(dest), "ref": str("HEAD"), "force": cty.False})
	if _, err := r.Plan(runProbe(t, h, r)); err == nil || !strings.Contains(err.Error(), "cannot reach the repository") {
		t.Fatalf("unreachable: %v", err)
	} else {
		t.Logf("unreachable remote, as planned: %v", err)
	}
	if got := run(t, h, "ls -A "+dir+" | grep -c '^\\.pinery-' || :"); got != "0\n" {
		t.Fatalf("temporary directories left: %s", got)
	}
}
