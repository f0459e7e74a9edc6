package systemdunit

import (
	"context"
	"errors"
	"strings"
	"testing"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

// A unit and a drop-in setting its MemoryMax, applied together: systemd
// sees the limit (so the reload happened), follows a change and a removal,
// and a second plan is empty each time.
func TestFleetUnitAndDropin(t *testing.T) {
	h := host(t)
	name := "pinery-test-" + token() + ".service"
	q := shellescape.Quote(name)
	t.Cleanup(func() {
		_, _ = h.Run(context.Background(), "systemctl stop -- "+q+"; rm -rf -- /etc/systemd/system/"+q+" /etc/systemd/system/"+q+".d; systemctl daemon-reload", nil)
	})
	show := func(prop string) string {
		return strings.TrimSpace(run(t, h, "systemctl show -p "+prop+" --value -- "+q))
	}
	unit := func(state string) *Unit {
		vals := map[string]cty.Value{"name": str(name), "state": str(state)}
		if state == "present" {
			vals["content"] = str("[Unit]\nDescription=pinery test\n\n[Service]\nExecStart=/bin/sleep infinity\n")
		}
		return newUnit(t, vals)
	}
	dropin := func(state, max string) *Unit {
		vals := map[string]cty.Value{"name": str(name), "dropin": str("50-memory"), "state": str(state)}
		if state == "present" {
			vals["content"] = str("[Service]\nMemoryMax=" + max + "\n")
		}
		return newUnit(t, vals)
	}

	ds := converge(t, h, unit("present"), dropin("present", "100M"))
	if ds[0].Action != resource.Create || ds[1].Action != resource.Create {
		t.Fatalf("first plans: %+v %+v", ds[0], ds[1])
	}
	if got := show("MemoryMax"); got != "104857600" {
		t.Fatalf("MemoryMax=%s after apply, want 104857600", got)
	}
	if got := run(t, h, "stat -c '%a %U %G' /etc/systemd/system/"+q+".d/50-memory.conf"); got != "644 root root\n" {
		t.Errorf("drop-in stat %q", got)
	}
	run(t, h, "systemctl start -- "+q)

	// A change of a running unit's drop-in, alone.
	ds = converge(t, h, dropin("present", "200M"))
	if !strings.Contains(ds[0].TextDiff, "-MemoryMax=100M\n+MemoryMax=200M") {
		t.Errorf("diff:\n%s", ds[0].TextDiff)
	}
	if got := show("MemoryMax"); got != "209715200" {
		t.Fatalf("MemoryMax=%s after change, want 209715200", got)
	}

	// Edited on disk without a reload: systemd knows the running unit is
	// stale, and the plan is a reload alone.
	run(t, h, "sleep 0.01; touch /etc/systemd/system/"+q)
	if d := plan(t, h, unit("present")); d.Action != resource.Update || d.Changes[0].Field != "daemon-reload" {
		t.Errorf("after touch: %+v", d)
	} else {
		converge(t, h, unit("present"))
	}

	converge(t, h, dropin("absent", ""))
	if got := show("MemoryMax"); got != "infinity" {
		t.Fatalf("MemoryMax=%s after removing the drop-in, want infinity", got)
	}
	if out := run(t, h, "ls -d /etc/systemd/system/"+q+".d 2>/dev/null || echo gone"); out != "gone\n" {
		t.Errorf("empty drop-in directory left: %s", out)
	}
	run(t, h, "systemctl stop -- "+q)
	converge(t, h, unit("absent"))
	if got := show("LoadState"); got != "not-found" {
		t.Fatalf("LoadState=%s after removal, want not-found", got)
	}
}

// A service without ExecStart= is written, but the apply fails with
// systemd's reason; the other unit of the group is applied.
func TestFleetBadUnit(t *testing.T) {
	h := host(t)
	bad := "pinery-test-" + token() + ".service"
	good := "pinery-test-" + token() + ".service"
	t.Cleanup(func() {
		_, _ = h.Run(context.Background(), "rm -f -- /etc/systemd/system/"+shellescape.Quote(bad)+" /etc/systemd/system/"+shellescape.Quote(good)+"; systemctl daemon-reload", nil)
	})
	us := []*Unit{
		newUnit(t, map[string]cty.Value{"name": str(bad), "content": str("[Service]\nType=simple\n")}),
		newUnit(t, map[string]cty.Value{"name": str(good), "content": str("[Service]\nExecStart=/bin/true\n")}),
	}
	rs := []resource.Resource{us[0], us[1]}
	ds := []*resource.Diff{plan(t, h, us[0]), plan(t, h, us[1])}
	err := us[0].ApplyAll(context.Background(), h, rs, ds)
	var each resource.Errors
	if !errors.As(err, &each) || len(each) != 2 {
		t.Fatalf("ApplyAll = %v, want per-unit errors", err)
	}
	if each[0] == nil || !strings.Contains(each[0].Error(), "bad-setting") || !strings.Contains(each[0].Error(), "ExecStart") {
		t.Errorf("bad unit: %v", each[0])
	}
	if each[1] != nil {
		t.Errorf("good unit: %v", each[1])
	}
	if got := strings.TrimSpace(run(t, h, "systemctl show -p LoadState --value -- "+shellescape.Quote(good))); got != "loaded" {
		t.Errorf("good unit LoadState=%s", got)
	}
}
