package user

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// These tests change accounts on a real Debian 12 board of the test fleet
// (PINERY_FLEET); they skip without one.

// freeIDs returns n ids unused in the given database (passwd or group).
func freeIDs(t *testing.T, h transport.Host, db string, n int) []int64 {
	t.Helper()
	out := run(t, h, fmt.Sprintf("for i in $(seq 41000 41999); do getent %s $i >/dev/null || echo $i; done | head -n %d", db, n))
	var ids []int64
	for _, f := range strings.Fields(out) {
		i, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, i)
	}
	if len(ids) != n {
		t.Fatalf("no %d free ids in %s: %q", n, db, out)
	}
	return ids
}

func wantChanges(t *testing.T, d *resource.Diff, action resource.Action, want string) {
	t.Helper()
	if d.Action != action {
		t.Fatalf("action %v, want %v: %+v", d.Action, action, d.Changes)
	}
	if got := fmt.Sprint(d.Changes); want != "" && got != want {
		t.Fatalf("changes\n got %s\nwant %s", got, want)
	}
}

func TestFleetUserLifecycle(t *testing.T) {
	h := dial(t)
	name := uniqueName(t)
	g1, g2, g3 := name+"a", name+"b", name+"c"
	cleanup(t, h, []string{name}, []string{g1, g2, g3})
	run(t, h, "groupadd "+g1+" && groupadd "+g2+" && groupadd "+g3)
	ids := freeIDs(t, h, "passwd", 2)
	uid1, uid2 := ids[0], ids[1]
	home := "/home/" + name
	comment := `Pinery "test" user, it's $(id)`
	base := map[string]cty.Value{"name": str(name), "home": str(home), "comment": str(comment)}
	with := func(kv map[string]cty.Value) *User {
		vals := map[string]cty.Value{}
		for k, v := range base {
			vals[k] = v
		}
		for k, v := range kv {
			vals[k] = v
		}
		return newUser(t, vals)
	}

	// create with uid, groups, shell, home, comment
	d := converge(t, h, with(map[string]cty.Value{"uid": resource.Num(uid1), "groups": list(g1), "shell": str("/bin/bash")}))
	wantChanges(t, d, resource.Create, fmt.Sprintf("[{uid  %d false} {groups  [%s] false} {home  %s false} {create_home  true false} {shell  /bin/bash false} {comment  %s false}]", uid1, g1, home, comment))
	ent := run(t, h, "getent passwd "+name)
	if want := fmt.Sprintf("%s:x:%d:", name, uid1); !strings.HasPrefix(ent, want) || !strings.HasSuffix(ent, ":"+comment+":"+home+":/bin/bash") {
		t.Fatalf("passwd entry %q", ent)
	}
	if got := run(t, h, "id -Gn "+name); got != name+" "+g1 {
		t.Fatalf("groups %q", got)
	}
	if got := run(t, h, "stat -c %U "+home); got != name {
		t.Fatalf("home owned by %q", got)
	}

	// change uid, shell and groups: the plan is field by field
	d = converge(t, h, with(map[string]cty.Value{"uid": resource.Num(uid2), "groups": list(g2, g1), "shell": str("/bin/sh")}))
	wantChanges(t, d, resource.Update, fmt.Sprintf("[{uid %d %d false} {groups [%s] [%s, %s] false} {shell /bin/bash /bin/sh false}]", uid1, uid2, g1, g1, g2))
	if got := run(t, h, "stat -c %u "+home); got != strconv.FormatInt(uid2, 10) {
		t.Fatalf("usermod -u did not move the home directory to the new uid: %s", got)
	}

	// append keeps the other groups; exact groups = [] removes them all
	d = converge(t, h, with(map[string]cty.Value{"groups": list(g3), "append": cty.True}))
	wantChanges(t, d, resource.Update, fmt.Sprintf("[{groups [%s, %s] [%s, %s, %s] false}]", g1, g2, g1, g2, g3))
	d = converge(t, h, with(map[string]cty.Value{"groups": list()}))
	wantChanges(t, d, resource.Update, fmt.Sprintf("[{groups [%s, %s, %s] [] false}]", g1, g2, g3))
	if got := run(t, h, "id -Gn "+name); got != name {
		t.Fatalf("groups %q", got)
	}

	// password_hash: set, then changed; the hash never shows in the diff
	for _, hash := range []string{hashA, hashB} {
		r := with(map[string]cty.Value{"password_hash": str(hash)})
		d = converge(t, h, r)
		wantChanges(t, d, resource.Update, "[{password_hash  (sensitive value changed) true}]")
		checkNoHash(t, r, d)
		if got := run(t, h, "getent shadow "+name+" | cut -d: -f2"); got != hash {
			t.Fatalf("shadow holds %q, want %q", got, hash)
		}
	}
	if strings.Contains(run(t, h, "ps -eo args"), "pinerysalt") {
		t.Fatal("a hash shows in the process list")
	}

	// remove, with the home directory and the account's own group
	d = converge(t, h, newUser(t, map[string]cty.Value{"name": str(name), "state": str("absent"), "remove_home": cty.True}))
	wantChanges(t, d, resource.Delete, fmt.Sprintf("[{state present absent false} {home %s removed false}]", home))
	run(t, h, "! getent passwd "+name+" && ! getent group "+name+" && test ! -e "+home)
}

// A supplementary or primary group that does not exist fails the apply
// with a clear message; created before the apply (as a group resource of
// the same run is), the same plan applies.
func TestFleetUserMissingGroup(t *testing.T) {
	h := dial(t)
	name := uniqueName(t)
	missing, primary := name+"x", name+"y"
	cleanup(t, h, []string{name}, []string{missing, primary})
	ctx := context.Background()

	r := newUser(t, map[string]cty.Value{"name": str(name), "groups": list("adm", missing)})
	d := plan(t, h, r)
	wantChanges(t, d, resource.Create, "")
	err := r.Apply(ctx, h, d)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(`supplementary group(s) %q do not exist`, missing)) || !strings.Contains(err.Error(), "depends_on") {
		t.Fatalf("want a missing-group error, got %v", err)
	}
	run(t, h, "! getent passwd "+name)

	r = newUser(t, map[string]cty.Value{"name": str(name), "group": str(primary), "groups": list(missing)})
	d = plan(t, h, r)
	run(t, h, "groupadd "+missing)
	err = r.Apply(ctx, h, d)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(`primary group %q does not exist`, primary)) {
		t.Fatalf("want a missing primary group error, got %v", err)
	}
	run(t, h, "! getent passwd "+name)

	run(t, h, "groupadd "+primary)
	if err := r.Apply(ctx, h, d); err != nil {
		t.Fatalf("apply once the groups exist: %v", err)
	}
	if again := plan(t, h, r); !again.Empty() {
		t.Fatalf("not converged: %+v", again.Changes)
	}
	if got := run(t, h, "id -gn "+name+"; id -Gn "+name); got != primary+"\n"+primary+" "+missing {
		t.Fatalf("groups %q", got)
	}
}

// A system account takes an existing group of its name as its primary
// group, gets no home directory, and gets one later when create_home is
// set explicitly.
func TestFleetSystemUserAndHome(t *testing.T) {
	h := dial(t)
	name := uniqueName(t)
	home := "/var/lib/" + name
	cleanup(t, h, []string{name}, []string{name})
	t.Cleanup(func() { _, _ = h.Run(context.Background(), "rm -rf /var/lib/"+name, nil) })
	run(t, h, "groupadd --system "+name)

	d := converge(t, h, newUser(t, map[string]cty.Value{"name": str(name), "system": cty.True, "shell": str("/usr/sbin/nologin")}))
	wantChanges(t, d, resource.Create, "[{system  true false} {shell  /usr/sbin/nologin false}]")
	if got := run(t, h, "id -gn "+name); got != name {
		t.Fatalf("primary group %q, want the existing group %s", got, name)
	}
	uid, _ := strconv.Atoi(run(t, h, "id -u "+name))
	if uid >= 1000 {
		t.Fatalf("system account got uid %d", uid)
	}
	run(t, h, "test ! -e /home/"+name)

	d = converge(t, h, newUser(t, map[string]cty.Value{"name": str(name), "home": str(home), "create_home": cty.True}))
	wantChanges(t, d, resource.Update, fmt.Sprintf("[{home /home/%s %s false} {create_home missing %s false}]", name, home, home))
	if got := run(t, h, "stat -c '%U %G' "+home); got != name+" "+name {
		t.Fatalf("home owned by %q", got)
	}
}
