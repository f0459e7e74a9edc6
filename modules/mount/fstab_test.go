package mount

import (
	"testing"
)

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, out string }{
		{"/mnt/a", "/mnt/a"},
		{"/mnt/my disk", `/mnt/my\040disk`},
		{"a\tb\\c\nd", `a\011b\134c\012d`},
	} {
		if got := escape(tt.in); got != tt.out {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.out)
		}
		if got := unescape(tt.out); got != tt.in {
			t.Errorf("unescape(%q) = %q, want %q", tt.out, got, tt.in)
		}
	}
	// A backslash not followed by three octal digits stays.
	if got := unescape(`a\9b\04`); got != `a\9b\04` {
		t.Errorf("unescape kept %q", got)
	}
}

func TestParseLine(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ok   bool
		want entry
	}{
		{"", false, entry{}},
		{"   \n", false, entry{}},
		{"# UNCONFIGURED FSTAB\n", false, entry{}},
		{"  #UUID=x / ext4 defaults 0 1\n", false, entry{}},
		{"lonely\n", false, entry{}},
		{"UUID=ab / ext4 errors=remount-ro 0 1\n", true, entry{"UUID=ab", "/", "ext4", "errors=remount-ro", 0, 1}},
		{"nas:/x\t/mnt/x  nfs rw,hard\r\n", true, entry{"nas:/x", "/mnt/x", "nfs", "rw,hard", 0, 0}},
		{"/dev/sdb1 /mnt/my\\040disk\n", true, entry{"/dev/sdb1", "/mnt/my disk", "auto", "defaults", 0, 0}},
		{"tmpfs /t tmpfs size=1m 1 2 extra", true, entry{"tmpfs", "/t", "tmpfs", "size=1m", 1, 2}},
	} {
		e, ok := parseLine(tt.in)
		if ok != tt.ok || (ok && e != tt.want) {
			t.Errorf("parseLine(%q) = %+v, %v; want %+v, %v", tt.in, e, ok, tt.want, tt.ok)
		}
	}
}

func TestEditFstab(t *testing.T) {
	nfs := &entry{"nas:/export/roots/sopine01", "/srv/root", "nfs", "rw,hard", 0, 0}
	const base = "# /etc/fstab: static file system information.\n" +
		"UUID=ab /               ext4    errors=remount-ro 0       1\n" +
		"\n" +
		"/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0\n"
	const line = "nas:/export/roots/sopine01 /srv/root nfs rw,hard 0 0"
	tests := []struct {
		name    string
		in      string
		want    *entry
		out     string
		changed bool
		found   bool
		old     string
	}{
		{"append", base, nfs, base + line + "\n", true, false, ""},
		{"append to empty", "", nfs, line + "\n", true, false, ""},
		{"append after a last line without break", "# x", nfs, "# x\n" + line + "\n", true, false, ""},
		{"append with CRLF", "# x\r\n", nfs, "# x\r\n" + line + "\r\n", true, false, ""},
		{"same entry, other spacing: kept byte for byte",
			base + "nas:/export/roots/sopine01\t/srv/root   nfs rw,hard\n", nfs,
			base + "nas:/export/roots/sopine01\t/srv/root   nfs rw,hard\n", false, true, "nas:/export/roots/sopine01\t/srv/root   nfs rw,hard"},
		{"changed options replaced in place",
			"# a\nnas:/export/roots/sopine01 /srv/root nfs ro 0 0\n# b\n", nfs,
			"# a\n" + line + "\n# b\n", true, true, "nas:/export/roots/sopine01 /srv/root nfs ro 0 0"},
		{"duplicates removed",
			"x /srv/root nfs ro 0 0\n# keep\ny /srv/root nfs rw 0 0\n", nfs,
			line + "\n# keep\n", true, true, "x /srv/root nfs ro 0 0"},
		{"commented entry is not the entry",
			"#nas:/export/roots/sopine01 /srv/root nfs rw,hard 0 0\n", nfs,
			"#nas:/export/roots/sopine01 /srv/root nfs rw,hard 0 0\n" + line + "\n", true, false, ""},
		{"other mount point with a common prefix untouched",
			"x /srv/root2 nfs ro 0 0\n", nfs, "x /srv/root2 nfs ro 0 0\n" + line + "\n", true, false, ""},
		{"absent: removed", base + "x /srv/root nfs ro 0 0\n", nil, base, true, true, "x /srv/root nfs ro 0 0"},
		{"absent: all removed", "x /srv/root nfs ro 0 0\n# k\ny /srv/root nfs rw\n", nil, "# k\n", true, true, "x /srv/root nfs ro 0 0"},
		{"absent: nothing to do", base, nil, base, false, false, ""},
		{"escaped mount point", "/dev/sdb1 /mnt/my\\040disk ext4 defaults 0 2\n",
			&entry{"/dev/sdb1", "/mnt/my disk", "ext4", "defaults", 0, 2},
			"/dev/sdb1 /mnt/my\\040disk ext4 defaults 0 2\n", false, true, "/dev/sdb1 /mnt/my\\040disk ext4 defaults 0 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/srv/root"
			if tt.want != nil {
				path = tt.want.path
			}
			got := editFstab(tt.in, path, tt.want)
			if got.content != tt.out {
				t.Errorf("content\n got %q\nwant %q", got.content, tt.out)
			}
			if got.changed != tt.changed || got.found != tt.found || got.old != tt.old {
				t.Errorf("changed %v found %v old %q; want %v %v %q", got.changed, got.found, got.old, tt.changed, tt.found, tt.old)
			}
		})
	}
}
