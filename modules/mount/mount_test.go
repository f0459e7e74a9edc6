package mount

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

func TestNewValidation(t *testing.T) {
	ok := func(extra map[string]cty.Value) map[string]cty.Value {
		v := map[string]cty.Value{"path": str("/srv/x"), "source": str("nas:/x"), "fstype": str("nfs")}
		for k, e := range extra {
			v[k] = e
		}
		return v
	}
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"relative", ok(map[string]cty.Value{"path": str("srv/x")}), "path", "absolute"},
		{"swap", ok(map[string]cty.Value{"path": str("none")}), "path", "swap"},
		{"root", ok(map[string]cty.Value{"path": str("/")}), "path", "root filesystem"},
		{"unclean", ok(map[string]cty.Value{"path": str("/srv//x/")}), "path", `"/srv/x"`},
		{"newline", ok(map[string]cty.Value{"path": str("/srv/x\ny")}), "path", "line break"},
		{"no source", map[string]cty.Value{"path": str("/srv/x"), "fstype": str("nfs")}, "source", "required"},
		{"no fstype", map[string]cty.Value{"path": str("/srv/x"), "source": str("a")}, "fstype", "required"},
		{"empty options", ok(map[string]cty.Value{"options": str("")}), "options", "empty"},
		{"spaced options", ok(map[string]cty.Value{"options": str("rw, hard")}), "options", "spaces"},
		{"comment source", ok(map[string]cty.Value{"source": str("#x")}), "source", "comment"},
		{"pass 3", ok(map[string]cty.Value{"pass": resource.Num(3)}), "pass", "between 0 and 2"},
		{"dump -1", ok(map[string]cty.Value{"dump": resource.Num(-1)}), "dump", "between"},
		{"dump 1.5", ok(map[string]cty.Value{"dump": cty.NumberFloatVal(1.5)}), "dump", "whole number"},
		{"state", ok(map[string]cty.Value{"state": str("on")}), "state", `"mounted", "present", "unmounted" or "absent"`},
		{"source with absent", ok(map[string]cty.Value{"state": str("absent")}), "source", "no effect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a field error, got %v", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %q, want field %s with %q", err, tt.field, tt.want)
			}
		})
	}
	for _, v := range []map[string]cty.Value{
		ok(nil),
		ok(map[string]cty.Value{"source": str("/dev/disk/by-label/my disk"), "path": str("/mnt/my disk"), "pass": resource.Num(2)}),
		{"path": str("/srv/x"), "state": str("absent")},
	} {
		if _, err := New(config(t, v)); err != nil {
			t.Errorf("%v: %v", v, err)
		}
	}
}

func probeOut(dir string, mounts []string, fstab string) string {
	s := "dir=" + dir + "\n"
	for _, m := range mounts {
		s += "mnt=" + m + "\n"
	}
	return s + "base64=\n" + base64.StdEncoding.EncodeToString([]byte(fstab)) + "\n"
}

func TestPlanTable(t *testing.T) {
	const fstab = "# static\nUUID=ab / ext4 defaults 0 1\n"
	const entryLine = "tmpfs /srv/x tmpfs size=1m 0 0"
	tests := []struct {
		name    string
		state   string
		out     string
		exit    int
		action  resource.Action
		changes string
		priv    string
		err     string
	}{
		{name: "mounted: new", state: "mounted", out: probeOut("none", nil, fstab), action: resource.Create,
			changes: "[{fstab  " + entryLine + " false} {mounted no yes false}]", priv: "write mount"},
		{name: "mounted: converged", state: "mounted", out: probeOut("dir", []string{"tmpfs tmpfs"}, fstab+entryLine+"\n"), action: resource.NoOp},
		{name: "mounted: in fstab, not mounted", state: "mounted", out: probeOut("dir", nil, fstab+entryLine+"\n"), action: resource.Update,
			changes: "[{mounted no yes false}]", priv: "mount"},
		{name: "mounted: changed options, already mounted (no remount)", state: "mounted",
			out: probeOut("dir", []string{"tmpfs tmpfs"}, fstab+"tmpfs /srv/x tmpfs size=2m 0 0\n"), action: resource.Update,
			changes: "[{fstab tmpfs /srv/x tmpfs size=2m 0 0 " + entryLine + " false}]", priv: "write"},
		{name: "mounted: mount point is a file", state: "mounted", out: probeOut("other", nil, fstab), err: "not a directory"},
		{name: "present: not mounted is fine", state: "present", out: probeOut("none", nil, fstab+entryLine+"\n"), action: resource.NoOp},
		{name: "present: no fstab", state: "present", out: "dir=none\nfstab=none\n", action: resource.Create, priv: "write"},
		{name: "unmounted: mounted", state: "unmounted", out: probeOut("dir", []string{"tmpfs tmpfs"}, fstab+entryLine+"\n"), action: resource.Update,
			changes: "[{mounted yes no false}]", priv: "umount"},
		{name: "absent: entry and mount", state: "absent", out: probeOut("dir", []string{"tmpfs tmpfs"}, fstab+entryLine+"\n"), action: resource.Delete,
			changes: "[{fstab " + entryLine + " (removed) false} {mounted yes no false}]", priv: "write umount"},
		{name: "absent: converged", state: "absent", out: probeOut("dir", nil, fstab), action: resource.NoOp},
		{name: "fstab a link", state: "present", out: "dir=none\nfstab=other\n", err: "not a regular file"},
		{name: "fstab big", state: "present", out: "dir=none\nfstab=big\n", err: "more than"},
		{name: "fstab binary", state: "present", out: probeOut("none", nil, "a\x00b"), err: "not a text file"},
		{name: "probe failed", state: "present", out: "dir=none\nerror=read\n", exit: 1, err: "cannot read /etc/fstab"},
		{name: "truncated", state: "present", out: "dir=none\n", err: "truncated"},
		{name: "unknown key", state: "present", out: "dir=none\nwho=me\n", err: "unexpected"},
		{name: "bad dir", state: "present", out: "dir=maybe\nfstab=none\n", err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]cty.Value{"path": str("/srv/x"), "state": str(tt.state)}
			if tt.state != "absent" {
				vals["source"], vals["fstype"], vals["options"] = str("tmpfs"), str("tmpfs"), str("size=1m")
			}
			d, err := newMount(t, vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
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
			if tt.priv != "" {
				p := d.Private.(*Private)
				var got []string
				for _, f := range []struct {
					n string
					v bool
				}{{"write", p.Write}, {"mount", p.Mount}, {"umount", p.Umount}} {
					if f.v {
						got = append(got, f.n)
					}
				}
				if strings.Join(got, " ") != tt.priv {
					t.Errorf("private %+v, want %s", p, tt.priv)
				}
			}
			if d.Action != resource.NoOp && strings.Contains(tt.priv, "write") && !strings.Contains(d.TextDiff, "/etc/fstab") {
				t.Errorf("no fstab diff: %q", d.TextDiff)
			}
		})
	}
}

// The tests below run on a real fleet host (skipped without one), on its
// real /etc/fstab, restored byte for byte when the test ends.

func fleet(t *testing.T) (resource.Runner, string) {
	t.Helper()
	h := fleettest.Dial(t, "h2")
	orig := run(t, h, "base64 </etc/fstab; stat -c '%u:%g %a' /etc/fstab")
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "/mnt/pinery-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = h.Run(ctx, "umount -- "+q(p)+" 2>/dev/null; rmdir -- "+q(p)+" 2>/dev/null; :", nil)
		i := strings.LastIndex(strings.TrimSpace(orig), "\n")
		content, meta := orig[:i+1], strings.Fields(orig[i+1:])
		res, err := h.Run(ctx, "t=$(mktemp /etc/.pinery-restore-XXXXXX) && base64 -d >\"$t\" && chown "+meta[0]+" \"$t\" && chmod "+meta[1]+" \"$t\" && mv -f -T \"$t\" /etc/fstab", strings.NewReader(content))
		if err == nil {
			err = res.Err("restoring /etc/fstab")
		}
		if err != nil {
			t.Errorf("restoring /etc/fstab: %v", err)
		}
	})
	return h, p
}

func TestFleetFstab(t *testing.T) {
	h, p := fleet(t)
	before := run(t, h, "cat /etc/fstab")
	vals := func(state, options string) map[string]cty.Value {
		return map[string]cty.Value{"path": str(p), "source": str("nas:/export/roots/sopine01"), "fstype": str("nfs"),
			"options": str(options), "state": str(state)}
	}
	line := "nas:/export/roots/sopine01 " + p + " nfs rw,hard 0 0\n"

	d := converge(t, h, newMount(t, vals("present", "rw,hard")))
	if d.Action != resource.Create || !strings.Contains(d.TextDiff, "+"+line) {
		t.Fatalf("present: %+v\n%s", d, d.TextDiff)
	}
	if got := run(t, h, "cat /etc/fstab"); got != before+line {
		t.Fatalf("fstab after present:\n%s", got)
	}
	if got := run(t, h, "stat -c '%u:%g %a' /etc/fstab; ls -A /etc | grep -c '^\\.pinery-' || :"); got != "0:0 644\n0\n" {
		t.Fatalf("owner, mode or leftovers: %q", got)
	}
	// The probe on a mount point that is not mounted and does not exist.
	if d := plan(t, h, newMount(t, vals("unmounted", "rw,hard"))); !d.Empty() {
		t.Fatalf("unmounted over an unmounted entry: %+v", d)
	}

	// Changed options: replaced in place, other lines kept; a line added
	// by hand after ours stays where it is.
	run(t, h, "printf '# added by hand\\n' >>/etc/fstab")
	d = converge(t, h, newMount(t, vals("present", "ro,soft")))
	if d.Action != resource.Update || d.Changes[0].Old+"\n" != line {
		t.Fatalf("changed: %+v", d)
	}
	want := before + strings.Replace(line, "rw,hard", "ro,soft", 1) + "# added by hand\n"
	if got := run(t, h, "cat /etc/fstab"); got != want {
		t.Fatalf("fstab after change:\n%s\nwant\n%s", got, want)
	}

	// Changed since the plan: refused, file left alone.
	r := newMount(t, vals("present", "rw"))
	d = plan(t, h, r)
	run(t, h, "printf '# racing\\n' >>/etc/fstab")
	if err := r.Apply(context.Background(), h, d); err == nil || !strings.Contains(err.Error(), "changed since the plan") {
		t.Fatalf("want a drift error, got %v", err)
	}

	d = converge(t, h, newMount(t, map[string]cty.Value{"path": str(p), "state": str("absent")}))
	if d.Action != resource.Delete {
		t.Fatalf("absent: %+v", d)
	}
	if got := run(t, h, "cat /etc/fstab"); got != before+"# added by hand\n# racing\n" {
		t.Fatalf("fstab after absent:\n%s", got)
	}
}

// Mounting: a device that does not exist fails with mount's own reason,
// naming the mount point. A tmpfs is then mounted for real when the host
// allows it (a systemd-nspawn container with CAP_SYS_ADMIN may); if it
// does not, the error must say so just as clearly.
func TestFleetMount(t *testing.T) {
	h, p := fleet(t)
	r := newMount(t, map[string]cty.Value{"path": str(p), "source": str("/dev/pinery-no-such-disk"), "fstype": str("ext4")})
	d := plan(t, h, r)
	if fmt.Sprint(d.Changes[len(d.Changes)-1]) != "{mounted no yes false}" {
		t.Fatalf("plan: %+v", d)
	}
	err := r.Apply(context.Background(), h, d)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("mounting %q", p)) || !strings.Contains(err.Error(), "mount: ") {
		t.Fatalf("want a mount error naming %s and mount's reason, got %v", p, err)
	}
	t.Logf("mount error, as reported: %v", err)
	if got := run(t, h, "[ -d "+q(p)+" ] && grep -c -F -- "+q(" "+p+" ")+" /etc/fstab"); got != "1\n" {
		t.Fatalf("mount point or entry missing after the failed mount: %q", got)
	}

	tmp := map[string]cty.Value{"path": str(p), "source": str("pinery-test"), "fstype": str("tmpfs"), "options": str("size=1m")}
	r = newMount(t, tmp)
	d = plan(t, h, r)
	if err := r.Apply(context.Background(), h, d); err != nil {
		if !strings.Contains(err.Error(), fmt.Sprintf("mounting %q", p)) {
			t.Fatalf("unclear mount error: %v", err)
		}
		t.Skipf("mounting is not permitted on this fleet host, so mounted/unmounted were not exercised: %v", err)
	}
	if again := plan(t, h, r); !again.Empty() {
		t.Fatalf("not converged after mount: %+v", again)
	}
	if got := run(t, h, "awk -v p="+q(p)+" '$2 == p { print $1, $3 }' /proc/self/mounts"); got != "pinery-test tmpfs\n" {
		t.Fatalf("not mounted: %q", got)
	}
	tmp["state"] = str("unmounted")
	d = converge(t, h, newMount(t, tmp))
	if fmt.Sprint(d.Changes) != "[{mounted yes no false}]" {
		t.Fatalf("unmounted: %+v", d)
	}
	tmp["state"] = str("mounted")
	converge(t, h, newMount(t, tmp))
	// umount refuses a busy mount point: its reason is in the error.
	pid := strings.TrimSpace(run(t, h, "cd "+q(p)+" && { sleep 30 </dev/null >/dev/null 2>&1 & echo $!; }"))
	tmp["state"] = str("unmounted")
	r = newMount(t, tmp)
	if err := r.Apply(context.Background(), h, plan(t, h, r)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unmounting %q", p)) {
		t.Errorf("want an unmount error for a busy mount point, got %v", err)
	} else {
		t.Logf("umount error, as reported: %v", err)
	}
	run(t, h, "kill "+pid+" 2>/dev/null; sleep 0.2; :")
	d = converge(t, h, newMount(t, map[string]cty.Value{"path": str(p), "state": str("absent")}))
	if d.Action != resource.Delete {
		t.Fatalf("absent: %+v", d)
	}
}
