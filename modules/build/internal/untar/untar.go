// Package untar unpacks a tar stream that a host sent back (a builder's
// DESTDIR) on the controller, treating it as hostile input.
package untar

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// Unpack extracts the tar stream of a builder's DESTDIR into dir, an
// empty directory, and returns each entry's mode as the archive has it.
// The files may add up to limit bytes, the stream's size: more means
// sparse entries, which would expand without bound.
//
// The stream comes from a host and is treated as hostile: absolute names,
// "..", names that go through a symbolic link, hard links to anything but
// a file already extracted, and devices or fifos are refused. A symbolic
// link is kept as a link (it is package content, never followed here);
// an absolute target is a path on the machine that installs the package,
// a relative one must stay inside the tree. Files land with mode 0600 and
// directories 0700 whatever the archive says: no set-uid file or world-
// writable directory ever appears on the controller; the returned modes
// go into the package.
func Unpack(r io.Reader, dir string, limit int64) (map[string]fs.FileMode, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	modes := map[string]fs.FileMode{}
	tr := tar.NewReader(r)
	var total int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return modes, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the output archive: %w", err)
		}
		// A sparse entry expands to its stated size, whatever the stream's.
		if total += hdr.Size; hdr.Size < 0 || total > limit {
			return nil, fmt.Errorf("output archive: its files add up to more than the %d bytes it has", limit)
		}
		if err := unpackEntry(root, tr, hdr, modes); err != nil {
			return nil, fmt.Errorf("output archive: %w", err)
		}
	}
}

func unpackEntry(root *os.Root, r io.Reader, hdr *tar.Header, modes map[string]fs.FileMode) error {
	name, err := memberName(hdr.Name)
	if err != nil {
		return err
	}
	mode := hdr.FileInfo().Mode()
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("the top entry %q is not a directory", hdr.Name)
		}
		return nil
	}
	if err := checkParents(root, name); err != nil {
		return err
	}
	if st, err := root.Lstat(name); err == nil {
		// tar lists a directory once; a second entry for a name would
		// replace what the first one made.
		if st.IsDir() && hdr.Typeflag == tar.TypeDir {
			modes[name] = mode
			return nil
		}
		return fmt.Errorf("%q appears twice", name)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := root.Mkdir(name, 0o700); err != nil {
			return err
		}
	case tar.TypeReg:
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return fmt.Errorf("%q: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
			return err
		}
	case tar.TypeSymlink:
		t := hdr.Linkname
		if t == "" || strings.ContainsRune(t, 0) {
			return fmt.Errorf("symbolic link %q has an empty or invalid target", name)
		}
		if !path.IsAbs(t) {
			if j := path.Join(path.Dir(name), t); j == ".." || strings.HasPrefix(j, "../") {
				return fmt.Errorf("symbolic link %q points outside the output (%q)", name, t)
			}
		}
		if err := root.Symlink(t, name); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := memberName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link %q: %w", name, err)
		}
		if st, err := root.Lstat(target); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("hard link %q must point to a file earlier in the archive, not %q", name, hdr.Linkname)
		}
		if err := checkParents(root, target); err != nil {
			return err
		}
		if err := root.Link(target, name); err != nil {
			return err
		}
		mode = modes[target]
	default:
		return fmt.Errorf("%q is a %s; a package holds only files, directories and links", name, kindOf(hdr.Typeflag))
	}
	modes[name] = mode
	return nil
}

// memberName checks an archive member's name and returns it clean and
// relative ("./usr/bin/x" → "usr/bin/x").
func memberName(n string) (string, error) {
	switch {
	case n == "":
		return "", errors.New("an entry has no name")
	case strings.ContainsAny(n, "\x00\n\r"):
		return "", fmt.Errorf("%q holds a NUL byte or line break", n)
	case strings.HasPrefix(n, "/"):
		return "", fmt.Errorf("%q is an absolute name", n)
	case slices.Contains(strings.Split(n, "/"), ".."):
		return "", fmt.Errorf("%q contains ..", n)
	}
	return path.Clean(n), nil
}

// checkParents refuses a name whose parent is missing or is not a real
// directory: GNU tar lists every directory before its content, and a name
// under a symbolic link would be written through it.
func checkParents(root *os.Root, name string) error {
	dir := path.Dir(name)
	for dir != "." {
		st, err := root.Lstat(dir)
		switch {
		case err != nil:
			return fmt.Errorf("%q comes before its directory %q", name, dir)
		case st.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%q goes through the symbolic link %q", name, dir)
		case !st.IsDir():
			return fmt.Errorf("%q is under %q, which is not a directory", name, dir)
		}
		dir = path.Dir(dir)
	}
	return nil
}

func kindOf(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}
