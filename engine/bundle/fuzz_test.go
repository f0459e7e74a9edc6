package bundle

import (
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead feeds the archive reader hostile bytes: it must never panic,
// and whatever it accepts must be safe to unpack (clean relative paths,
// plain modes, sizes within the limits).
func FuzzRead(f *testing.F) {
	good, _, err := Pack(Manifest{Created: time.Unix(0, 0), Version: "1"}, site())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(rawArchive(f, Manifest{Files: []Entry{{Path: "../x", Mode: "0644", Size: 1, SHA256: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}}}, []File{{Path: "../x", Data: []byte("x")}}))
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	lim := Limits{Archive: 1 << 20, Files: 50, File: 4096, Total: 16384, Manifest: 16384}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, files, err := Read(data, lim)
		if err != nil {
			return
		}
		var total int64
		for i, file := range files {
			if CheckPath(file.Path) != nil || filepath.IsAbs(file.Path) || file.Path != m.Files[i].Path {
				t.Fatalf("accepted path %q", file.Path)
			}
			total += int64(len(file.Data))
		}
		if total > lim.Total || len(files) > lim.Files {
			t.Fatalf("accepted %d files of %d bytes", len(files), total)
		}
	})
}

// FuzzParseSignature: no panic, and what parses signs only its own bytes.
func FuzzParseSignature(f *testing.F) {
	key, _ := newKey(f)
	a, m, _ := Pack(Manifest{Created: time.Unix(0, 0), Version: "1"}, site())
	sig, _ := Sign(a, m, key)
	f.Add(sig)
	f.Add([]byte(sigHeader + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSignature(data)
		if err != nil {
			return
		}
		if CheckVersion(s.Version) != nil || s.Size < 0 || len(s.signed) > len(data)+len(sigDomain) {
			t.Fatalf("accepted %+v", s)
		}
	})
}
