package all_test

import (
	"slices"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
)

// minimal is a valid resource of each type that builds shell commands.
var minimal = map[string]map[string]cty.Value{
	"archive":      nil, // needs a file on the controller: made by the fuzz target
	"cron":         vals("schedule", "@daily", "command", "true"),
	"directory":    vals("path", "/srv/d"),
	"exec":         vals("command", "true", "creates", "/srv/x"),
	"file":         vals("path", "/srv/f", "content", "x\n"),
	"git":          vals("repository", "/srv/r.git", "destination", "/srv/g", "ref", "main"),
	"group":        vals("name", "g"),
	"line":         vals("path", "/srv/l", "line", "x"),
	"mount":        vals("path", "/srv/m", "source", "tmpfs", "fstype", "tmpfs"),
	"package":      vals("name", "nginx"),
	"service":      vals("name", "nginx", "state", "running", "enabled", true),
	"symlink":      vals("path", "/srv/s", "target", "t"),
	"sysctl":       vals("name", "net.core.somaxconn", "value", "4096"),
	"systemd_unit": vals("name", "x.service", "content", "[Service]\nExecStart=/bin/true\n"),
	"user":         vals("name", "u", "password_hash", "!", "groups", cty.ListVal([]cty.Value{str("adm")})),
}

// FuzzModulePlan: whatever a host prints for a probe (a banner, a cut or
// shifted stream, another resource's output, random bytes) and whatever
// its exit status, every module's Plan, and a batched probe's split, is
// an error or a well-formed plan: never a panic, never a change without
// an action, never the wrong number of results.
func FuzzModulePlan(f *testing.F) {
	src, sum := tarball(f)
	minimal["archive"] = vals("source", src, "sha256", sum, "destination", "/srv/a")
	var types []string
	rs := map[string][2]resource.Resource{}
	for typ, v := range minimal {
		types = append(types, typ)
		var pair [2]resource.Resource
		for i := range pair {
			t, _ := resource.Lookup(typ)
			r, err := t.New(resourcetest.Config(f, typ, f.TempDir(), v))
			if err != nil {
				f.Fatalf("%s: %v", typ, err)
			}
			pair[i] = r
		}
		rs[typ] = pair
	}
	slices.Sort(types)
	for _, s := range []string{
		"type=none\n", "link=1\ntype=file\nstat=644 0 0 1 root root\nsha256=" + sum + "\n",
		"type=directory\nempty=1\n", "user=present\nuid=1000\ngid=1000\ncomment=\nhome=/h\nshell=/bin/sh\n",
		"gid=10\n", "skip=\n", "git=1\ntype=none\nls=" + sum[:40] + "\trefs/heads/main\n",
		"LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n",
		"#each\n\n#each 0 0\n\n#each 1 0\n", "Welcome!\r\ntype=none\r\n", "base64=\n!!!\n", "dir=dir\nfstab=none\n",
	} {
		for i := range types {
			f.Add(uint8(i), []byte(s), uint8(0))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, out []byte, rc uint8) {
		typ := types[int(which)%len(types)]
		pair := rs[typ]
		res := resource.ProbeResult{Stdout: out, ExitCode: int(rc)}
		d, err := pair[0].Plan(res)
		if err == nil && d != nil && (d.Action < resource.NoOp || d.Action > resource.Run || d.Action == resource.NoOp && len(d.Changes) > 0) {
			t.Fatalf("%s: plan %v with changes %v", typ, d.Action, d.Changes)
		}
		if bp, ok := pair[0].(resource.BatchProber); ok {
			_, split := bp.ProbeAll(pair[:])
			parts, err := split(res)
			if err == nil && len(parts) != len(pair) {
				t.Fatalf("%s: batched probe split into %d results for %d resources", typ, len(parts), len(pair))
			}
			for i, p := range parts {
				_, _ = pair[i].Plan(p)
			}
		}
	})
}
