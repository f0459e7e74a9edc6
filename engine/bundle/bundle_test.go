package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

var created = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func site() []File {
	return []File{
		{Path: "site/main.hcl", Data: []byte(`file "/etc/motd" { content = "hi" }` + "\n")},
		{Path: "inventory.hcl", Data: []byte(`host "h2" { connection = "local" }` + "\n")},
		{Path: "site/bin/hook", Exec: true, Data: []byte("#!/bin/sh\n")},
	}
}

func newKey(t testing.TB) (ed25519.PrivateKey, ssh.PublicKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return priv, sp
}

func pack(t testing.TB, m Manifest, files []File) ([]byte, Manifest) {
	t.Helper()
	a, m, err := Pack(m, files)
	if err != nil {
		t.Fatal(err)
	}
	return a, m
}

func TestPackDeterministicAndRoundTrip(t *testing.T) {
	m := Manifest{Created: created, Site: "/srv/site", Hosts: []string{"h2"}, Pinery: "test"}
	a1, m1 := pack(t, m, site())
	files := site()
	files[0], files[2] = files[2], files[0] // input order does not matter
	a2, _ := pack(t, m, files)
	if !bytes.Equal(a1, a2) {
		t.Fatal("the same content packed twice gave different archives")
	}
	if !strings.HasPrefix(m1.Version, "20260301T100000Z-") || len(m1.Version) != len("20260301T100000Z-")+12 {
		t.Errorf("derived version %q", m1.Version)
	}
	m.Notes = []string{"changed"}
	if _, m3 := pack(t, m, site()); m3.Version == m1.Version {
		t.Error("other content, same derived version")
	}
	got, gotFiles, err := Read(a1, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != m1.Version || !got.Created.Equal(created) || len(gotFiles) != 3 {
		t.Fatalf("read back %+v, %d files", got, len(gotFiles))
	}
	want := map[string]File{}
	for _, f := range site() {
		want[f.Path] = f
	}
	for _, f := range gotFiles {
		w := want[f.Path]
		if !bytes.Equal(f.Data, w.Data) || f.Exec != w.Exec {
			t.Errorf("%s read back as %q exec=%v", f.Path, f.Data, f.Exec)
		}
	}
}

func TestOpen(t *testing.T) {
	key, pub := newKey(t)
	other, otherPub := newKey(t)
	archive, m := pack(t, Manifest{Created: created, Version: "1.0", Hosts: []string{"h2"}}, site())
	sig, err := Sign(archive, m, key)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	// The manifest edited inside the archive (a host added), repacked
	// with the same files: the old signature must not cover it.
	var repacked []byte
	{
		m2 := m
		m2.Hosts = append(m2.Hosts, "h3")
		repacked = rawArchive(t, m2, site())
	}
	otherSig, _ := Sign(archive, m, other)
	cases := []struct {
		name          string
		archive, sig  []byte
		trusted       []ssh.PublicKey
		want          string
		wantUntrusted bool
	}{
		{"good", archive, sig, []ssh.PublicKey{otherPub, pub}, "", false},
		{"one byte of the archive changed", flip(archive, len(archive)/2), sig, []ssh.PublicKey{pub}, "the archive is not the signed one", false},
		{"archive truncated", archive[:len(archive)-1], sig, []ssh.PublicKey{pub}, "the archive is not the signed one", false},
		{"manifest tampered and repacked", repacked, sig, []ssh.PublicKey{pub}, "the archive is not the signed one", false},
		{"signed by another key", archive, otherSig, []ssh.PublicKey{pub}, "not signed by a trusted key: it names key SHA256:", true},
		{"signed version changed", archive, bytes.Replace(sig, []byte("version: 1.0"), []byte("version: 9.0"), 1), []ssh.PublicKey{pub}, "bad signature", false},
		{"signed hash changed to another archive's", repacked, sigFor(t, sig, repacked), []ssh.PublicKey{pub}, "bad signature", false},
		{"signature bytes changed", archive, flip(sig, len(sig)-10), []ssh.PublicKey{pub}, "", false},
		{"not a signature", archive, []byte("hello\n"), []ssh.PublicKey{pub}, "not a pinery bundle signature", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, man, files, err := Open(c.archive, c.sig, c.trusted, DefaultLimits)
			if c.name == "good" {
				if err != nil || man.Version != "1.0" || s.Version != "1.0" || len(files) != 3 {
					t.Fatalf("Open = %v, %+v, %d files", err, man, len(files))
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
			if errors.Is(err, ErrUntrusted) != c.wantUntrusted {
				t.Errorf("errors.Is(ErrUntrusted) = %v", !c.wantUntrusted)
			}
		})
	}
}

// sigFor rewrites a signature's size and hash for another archive,
// keeping the (now wrong) signature.
func sigFor(t *testing.T, sig, archive []byte) []byte {
	s, err := ParseSignature(sig)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := Read(archive, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := newKey(t)
	forged, _ := Sign(archive, *other, k)
	lines := strings.Split(string(forged), "\n")
	lines[5] = "key: " + s.Key
	lines[6] = "signature: " + strings.Split(string(sig), "\n")[6][len("signature: "):]
	return []byte(strings.Join(lines, "\n"))
}

// rawArchive writes an archive as given, with no checks: hostile input.
func rawArchive(t testing.TB, m Manifest, files []File, extra ...*tar.Header) []byte {
	if m.Files == nil {
		es, err := entries(files)
		if err != nil {
			t.Fatal(err)
		}
		m.Files = es
	}
	m.Format = Format
	if m.Version == "" {
		m.Version = "1"
	}
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	man, _ := json.Marshal(m)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Mode: 0o644, Size: int64(len(man))})
	tw.Write(man)
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: int64(f.Mode()), Size: int64(len(f.Data))})
		tw.Write(f.Data)
	}
	for _, h := range extra {
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write(make([]byte, h.Size))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestReadRefusesHostileArchives(t *testing.T) {
	one := []File{{Path: "a", Data: []byte("x")}}
	sum := func(p string, size int64) Entry {
		es, _ := entries([]File{{Path: "z", Data: make([]byte, size)}})
		return Entry{Path: p, Mode: "0644", Size: size, SHA256: es[0].SHA256}
	}
	small := DefaultLimits
	small.File, small.Total, small.Files = 100, 150, 3
	cases := []struct {
		name    string
		archive []byte
		lim     Limits
		want    string
	}{
		{"path traversal", rawArchive(t, Manifest{Files: []Entry{sum("../etc/passwd", 1)}}, []File{{Path: "../etc/passwd", Data: []byte{0}}}), DefaultLimits, "not a clean relative path"},
		{"absolute path", rawArchive(t, Manifest{Files: []Entry{sum("/etc/passwd", 1)}}, []File{{Path: "/etc/passwd", Data: []byte{0}}}), DefaultLimits, "not a clean relative path"},
		{"dot-dot inside", rawArchive(t, Manifest{Files: []Entry{sum("a/../../b", 1)}}, nil), DefaultLimits, "not a clean relative path"},
		{"backslash", rawArchive(t, Manifest{Files: []Entry{sum(`a\..\b`, 1)}}, nil), DefaultLimits, "backslash"},
		{"symlink entry", rawArchive(t, Manifest{}, one, &tar.Header{Typeflag: tar.TypeSymlink, Name: "b", Linkname: "/etc"}), DefaultLimits, `"b" is not in the manifest`},
		{"symlink listed as a file", rawArchive(t, Manifest{Files: []Entry{sum("a", 0)}}, nil, &tar.Header{Typeflag: tar.TypeSymlink, Name: "a", Linkname: "/etc/shadow"}), DefaultLimits, `"a" is not a regular file`},
		{"hard link", rawArchive(t, Manifest{Files: []Entry{sum("a", 0)}}, nil, &tar.Header{Typeflag: tar.TypeLink, Name: "a", Linkname: "/etc/shadow"}), DefaultLimits, "not a regular file"},
		{"directory entry", rawArchive(t, Manifest{}, one, &tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o777}), DefaultLimits, `"d/" is not in the manifest`},
		{"huge file in the manifest", rawArchive(t, Manifest{Files: []Entry{sum("a", 101)}}, nil), small, "larger than the limit of 100"},
		{"huge entry under a small listed size", rawArchive(t, Manifest{Files: []Entry{sum("a", 1)}}, nil, &tar.Header{Typeflag: tar.TypeReg, Name: "a", Size: 1 << 20, Mode: 0o644}), DefaultLimits, "larger than the limit of 1"},
		{"too much in all", rawArchive(t, Manifest{Files: []Entry{sum("a", 100), sum("b", 100)}}, nil), small, "more than 150 bytes in all"},
		{"too many files", rawArchive(t, Manifest{Files: []Entry{sum("a", 1), sum("b", 1), sum("c", 1), sum("d", 1)}}, nil), small, "more than the limit of 3"},
		{"archive too large", rawArchive(t, Manifest{}, one), Limits{Archive: 10}, "larger than the limit of 10"},
		{"file not in the manifest", rawArchive(t, Manifest{}, one, &tar.Header{Typeflag: tar.TypeReg, Name: "b", Size: 1, Mode: 0o644}), DefaultLimits, `"b" is not in the manifest`},
		{"file missing", rawArchive(t, Manifest{Files: []Entry{sum("a", 1), sum("b", 1)}}, []File{{Path: "a", Data: []byte{0}}}), DefaultLimits, "ends before b"},
		{"content changed", rawArchive(t, Manifest{Files: []Entry{sum("a", 1)}}, []File{{Path: "a", Data: []byte{1}}}), DefaultLimits, "does not match its SHA-256"},
		{"listed twice", rawArchive(t, Manifest{Files: []Entry{sum("a", 1), sum("a", 1)}}, nil), DefaultLimits, "out of order or twice"},
		{"file and directory", rawArchive(t, Manifest{Files: []Entry{sum("a", 1), sum("a/b", 1)}}, nil), DefaultLimits, "both a file and a directory"},
		{"setuid mode", rawArchive(t, Manifest{Files: []Entry{{Path: "a", Mode: "4755", Size: 1, SHA256: sum("a", 1).SHA256}}}, nil), DefaultLimits, `mode "4755"`},
		{"manifest not first", rawArchive(t, Manifest{}, nil)[:0], DefaultLimits, "not a gzip archive"},
		{"manifest format", rawArchive(t, Manifest{Format: 2}, nil), DefaultLimits, ""},
		{"not gzip", []byte("PK\x03\x04 a zip"), DefaultLimits, "not a gzip archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Read(c.archive, c.lim)
			if c.name == "manifest format" { // rawArchive sets the right format: the good case
				if err != nil {
					t.Fatalf("a plain empty bundle refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}
}

func TestCheckReplay(t *testing.T) {
	sig := func(v string, at time.Time, b byte) *Signature {
		return &Signature{Version: v, Created: at, SHA256: [32]byte{b}}
	}
	last := &Applied{Version: "v2", Created: created, SHA256: "02" + strings.Repeat("00", 31)}
	cases := []struct {
		name string
		last *Applied
		s    *Signature
		ok   bool
	}{
		{"first bundle", nil, sig("v1", created, 1), true},
		{"newer", last, sig("v3", created.Add(time.Second), 3), true},
		{"the same again", last, sig("v2", created, 2), true},
		{"older", last, sig("v1", created.Add(-time.Hour), 1), false},
		{"same time, other content", last, sig("v2b", created, 9), false},
	}
	for _, c := range cases {
		err := CheckReplay(c.last, c.s)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrDowngrade)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestCheckVersionAndPath(t *testing.T) {
	for v, ok := range map[string]bool{"1.2.3": true, "20260301T100000Z-abcdef012345": true, "": false, "-x": false, "a b": false,
		"a\nkey: x": false, strings.Repeat("a", 65): false} {
		if err := CheckVersion(v); (err == nil) != ok {
			t.Errorf("CheckVersion(%q) = %v", v, err)
		}
	}
	for p, ok := range map[string]bool{"site/a.hcl": true, "a": true, "": false, ".": false, "a/": false, "a//b": false, "./a": false,
		"../a": false, "/a": false, `a\b`: false, "a\x00": false, ManifestName: false} {
		if err := CheckPath(p); (err == nil) != ok {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
}

func TestKeys(t *testing.T) {
	if _, err := ParseTrustedKeys([]byte("# none\n\n")); err == nil {
		t.Error("no keys accepted")
	}
	if _, err := ParseTrustedKeys([]byte("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDG x\n")); err == nil {
		t.Error("a broken RSA key accepted")
	}
	_, pub := newKey(t)
	keys, err := ParseTrustedKeys(append([]byte("# ops\n"), ssh.MarshalAuthorizedKey(pub)...))
	if err != nil || len(keys) != 1 {
		t.Fatalf("ParseTrustedKeys = %v, %v", keys, err)
	}
	if _, err := ParseSigningKey([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n")); err == nil {
		t.Error("garbage signing key accepted")
	}
}
