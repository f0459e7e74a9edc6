package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/engine/transport/fleettest"
)

// A file written where the filesystem is full (a 64 KiB tmpfs, filled, on a
// fleet host): the write fails saying the disk is full and naming the path,
// the old file stays byte for byte, no temporary file is left; in a batch
// the next file, elsewhere, is still written (the failed one's bytes on the
// shared stdin are skipped); once space is freed, the same files converge.
func TestFleetDiskFull(t *testing.T) {
	h := fleettest.Dial(t, "h1")
	run := func(cmd string) string { t.Helper(); return resourcetest.Run(t, h, cmd) }
	var b [6]byte
	_, _ = rand.Read(b[:])
	full := "/mnt/pinery-diskfull-" + hex.EncodeToString(b[:])
	other := "/tmp/pinery-diskfull-" + hex.EncodeToString(b[:])
	run("mkdir -p " + full + " " + other + " && mount -t tmpfs -o size=64k,mode=0755 pinery-diskfull " + full)
	t.Cleanup(func() {
		_, _ = h.Run(context.Background(), "umount "+full+"; rmdir "+full+"; rm -rf "+other, nil)
	})
	const old = "old content, kept whole\n"
	run("printf '%s' '" + old + "' > " + full + "/f && chmod 0644 " + full + "/f")
	run("head -c 1M /dev/zero > " + full + "/fill 2>/dev/null; df --output=avail -B1 " + full + " | tail -1 | grep -qx ' *0'")

	newContent := strings.Repeat("new content\n", 1000) // 12 KB
	f := newFile(t, map[string]cty.Value{"path": str(full + "/f"), "content": str(newContent)})
	g := newFile(t, map[string]cty.Value{"path": str(other + "/g"), "content": str("elsewhere\n")})
	ctx := context.Background()

	checkFull := func(err error) {
		t.Helper()
		if !errors.Is(err, resource.ErrDiskFull) {
			t.Fatalf("err = %v, want a disk-full error", err)
		}
		for _, want := range []string{`writing "` + full + `/f"`, "disk full", "No space left on device", `"` + full + `/f" was not changed`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if got := run("cat " + full + "/f"); got != old {
			t.Errorf("old file after the failed write = %q, want %q", got, old)
		}
		if left := run("ls -A " + full); left != "f\nfill\n" {
			t.Errorf("left in the full directory:\n%s", left)
		}
	}

	// One file on its own.
	checkFull(f.Apply(ctx, h, resourcetest.Plan(t, h, f)))

	// Two in one batch: the first fails, the second is written.
	err := f.ApplyAll(ctx, h, []resource.Resource{f, g}, []*resource.Diff{resourcetest.Plan(t, h, f), resourcetest.Plan(t, h, g)})
	var each resource.Errors
	if !errors.As(err, &each) || len(each) != 2 {
		t.Fatalf("ApplyAll: %v, want one error per file", err)
	}
	checkFull(each[0])
	if each[1] != nil {
		t.Fatalf("the second file of the batch: %v", each[1])
	}
	if got := run("cat " + other + "/g"); got != "elsewhere\n" {
		t.Fatalf("second file = %q", got)
	}

	// Space freed: a re-run converges.
	run("rm " + full + "/fill")
	resourcetest.Converge(t, h, f)
	if got := run("sha256sum < " + full + "/f"); !strings.HasPrefix(got, f.sum+" ") {
		t.Fatalf("after freeing space: sha256 %s, want %s", got, f.sum)
	}
}
