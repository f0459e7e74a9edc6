package aptrepo

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// Apply uploads the pool files and the snapshot the host lacks, switches
// the suite to the snapshot and prunes, as the plan says.
func (r *AptRepo) Apply(ctx context.Context, h resource.Runner, d *resource.Diff) error {
	if d.Empty() {
		return nil
	}
	priv, ok := d.Private.(*Private)
	if !ok {
		return fmt.Errorf("apt_repo %s: the plan carries no apt_repo changes", r.path)
	}
	host := priv.host
	debs := make([]*Package, len(priv.debs))
	published := map[string]string{} // pool path → SHA-256, as the current snapshot lists it
	for _, p := range host.pkgs {
		published[p.Filename] = p.SHA256
	}
	var fresh []*Package
	for i, p := range priv.debs {
		c := *p
		debs[i] = &c
		if published[c.Filename] != c.SHA256 {
			fresh = append(fresh, &c)
		}
	}
	upload, err := r.placeInPool(ctx, h, host.exists, fresh)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	id, _, entries, err := buildSnapshot(r.spec(debs, now), r.key, host.ids())
	if err != nil {
		return fmt.Errorf("apt_repo %s: %w", r.path, err)
	}
	planned := ""
	if host.current != "" {
		planned = suiteLink(r.suite, host.current)
	}
	script := r.applyScript(id, planned, host.carried(r.suite, r.keep))

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(r.writeUpload(pw, entries, upload, priv.newPubkey)) }()
	res, err := h.Run(ctx, script, pr)
	pr.Close()
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case 5:
		return fmt.Errorf("%s/dists/%s has changed since the plan; plan again", r.path, r.suite)
	case 7:
		return fmt.Errorf("apt_repo %s: the upload does not match its checksums (a .deb changed on the controller since the plan?); nothing was published", r.path)
	}
	return res.Err(fmt.Sprintf("publishing %s to %s", r.suite, r.path))
}

// placeInPool decides where new packages go in the host's pool: their
// canonical name, or the checksummed one when another file has it. It
// returns those whose file the host lacks.
func (r *AptRepo) placeInPool(ctx context.Context, h resource.Runner, exists bool, fresh []*Package) ([]*Package, error) {
	if len(fresh) == 0 {
		return nil, nil
	}
	have := map[string]string{}
	if exists {
		var b strings.Builder
		fmt.Fprintf(&b, "cd %s || exit 0\nfor f in", shellescape.Quote(r.path))
		for _, p := range fresh {
			fmt.Fprintf(&b, " %s %s", shellescape.Quote(p.Filename), shellescape.Quote(checksummed(p)))
		}
		b.WriteString("; do if [ -f \"$f\" ]; then printf '%s %s\\n' \"$(sha256sum <\"$f\" | cut -c1-64)\" \"$f\"; fi; done\n")
		res, err := h.Run(ctx, b.String(), nil)
		if err != nil {
			return nil, err
		}
		if err := res.Err("reading the pool of " + r.path); err != nil {
			return nil, err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
			if sum, name, ok := strings.Cut(line, " "); ok {
				have[name] = sum
			}
		}
	}
	var upload []*Package
	for _, p := range fresh {
		switch alt := checksummed(p); {
		case have[p.Filename] == "" || have[p.Filename] == p.SHA256:
		case have[alt] == "" || have[alt] == p.SHA256:
			p.Filename = alt
		default:
			return nil, fmt.Errorf("apt_repo %s: the pool has other files as %s and %s", r.path, p.Filename, alt)
		}
		if have[p.Filename] != p.SHA256 {
			upload = append(upload, p)
		}
	}
	return upload, nil
}

// checksummed is the pool name of a file whose canonical name is taken.
func checksummed(p *Package) string {
	return strings.TrimSuffix(p.Filename, ".deb") + "+" + p.SHA256[:16] + ".deb"
}

// sumsName lists the SHA-256 of every uploaded file, checked on the host
// before anything is used.
const sumsName = ".pinery-sums"

// writeUpload writes the tar stream: the snapshot, the new pool files, the
// public key when it changed, and the checksums of all of them.
func (r *AptRepo) writeUpload(w io.Writer, entries []entry, upload []*Package, pubkey bool) error {
	tw := tar.NewWriter(w)
	var sums strings.Builder
	file := func(name string, data []byte) error {
		s := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), name)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, e := range entries {
		var err error
		switch {
		case e.Symlink != "":
			err = tw.WriteHeader(&tar.Header{Name: e.Path, Linkname: e.Symlink, Mode: 0o777, Typeflag: tar.TypeSymlink})
		case e.HardLink != "":
			err = tw.WriteHeader(&tar.Header{Name: e.Path, Linkname: e.HardLink, Mode: 0o644, Typeflag: tar.TypeLink})
		default:
			err = file(e.Path, e.Data)
		}
		if err != nil {
			return err
		}
	}
	for _, p := range upload {
		fmt.Fprintf(&sums, "%s  %s\n", p.SHA256, p.Filename)
		if err := copyToTar(tw, p); err != nil {
			return err
		}
	}
	if pubkey {
		if err := file("pubkey.asc", r.pubkey); err != nil {
			return err
		}
	}
	if err := file(sumsName, []byte(sums.String())); err != nil {
		return err
	}
	return tw.Close()
}

func copyToTar(tw *tar.Writer, p *Package) error {
	f, err := os.Open(p.file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: p.Filename, Mode: 0o644, Size: p.Size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	// A file that changed since it was read fails here or in the host's
	// checksum test, never silently.
	if _, err := io.CopyN(tw, f, p.Size); err != nil {
		return fmt.Errorf("%s: %w", p.file, err)
	}
	return nil
}

// applyScript unpacks the upload into a directory beside the repository,
// checks it, moves pool files and the snapshot into place, carries the
// indexes of earlier snapshots into by-hash, switches dists/SUITE with one
// rename and prunes. Exit 5: the suite moved since the plan; 7: the upload
// is corrupt. The repository lock (flock) keeps two publishers apart.
func (r *AptRepo) applyScript(id, planned string, carry []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "d=%s\ns=%s\nid=%s\nkeep=%d\nplanned=%s\ncarry=%s\n",
		shellescape.Quote(r.path), r.suite, id, r.keep, shellescape.Quote(planned), shellescape.Quote(strings.Join(carry, " ")))
	b.WriteString(`umask 022
LC_ALL=C; export LC_ALL
mkdir -p "$d/pool" "$d/snapshots" "$d/dists" || exit 1
exec 9>>"$d/` + lockName + `" && flock 9 || exit 1
st=$(mktemp -d "$d/.pinery-tmp-XXXXXXXXXX") || exit 1
trap 'rm -rf -- "$st"' EXIT
trap 'exit 1' HUP INT TERM
tar -x -f - -C "$st" --no-same-owner || exit 1
(cd "$st" && sha256sum -c --quiet --strict ` + sumsName + `) >/dev/null 2>&1 || exit 7
find "$st" -type f -exec sync -- {} + || exit 1
cur=$(readlink "$d/dists/$s" 2>/dev/null) || cur=
[ "$cur" = "$planned" ] || exit 5
# The key first: a repository with files is pinery's only with it.
if [ -f "$st/pubkey.asc" ]; then mv -f -T "$st/pubkey.asc" "$d/pubkey.asc" || exit 1; fi
if [ -d "$st/pool" ]; then
  (cd "$st" && find pool -type f) | while IFS= read -r f; do
    [ -e "$d/$f" ] && continue
    mkdir -p "$d/${f%/*}" && mv -T "$st/$f" "$d/$f" || exit 1
  done || exit 1
fi
n="$st/snapshots/$id/dists/$s"
for old in $carry; do
  o="$d/snapshots/$old/dists/$s"
  [ -f "$o/Release" ] || continue
  awk '/^[^ ]/{h=$1; sub(/:$/, "", h)} /^ /{print h, $1, $3}' "$o/Release" | while read -r h sum p; do
    case "$h" in MD5Sum|SHA1|SHA256|SHA512) ;; *) continue ;; esac
    t="$n/${p%/*}/by-hash/$h/$sum"
    [ -e "$t" ] || { mkdir -p "${t%/*}" && ln -- "$o/$p" "$t"; } 2>/dev/null || :
  done
done
mv -T "$st/snapshots/$id" "$d/snapshots/$id" || exit 1
sync -- "$d/snapshots" 2>/dev/null || :
ln -s "../snapshots/$id/dists/$s" "$st/link" && mv -f -T "$st/link" "$d/dists/$s" || exit 1
sync -- "$d/dists" 2>/dev/null || :
# Prune: the suite's snapshots past the newest $keep, never one a suite
# points to; then pool files no snapshot lists (none when an index cannot
# be read).
links=$(for l in "$d"/dists/*; do [ -L "$l" ] && readlink "$l"; done)
i=0
for x in $(ls -1r "$d/snapshots"); do
  [ -d "$d/snapshots/$x/dists/$s" ] || continue
  i=$((i+1))
  [ "$i" -le "$keep" ] && continue
  case "$links" in *"/snapshots/$x/"*) continue ;; esac
  rm -rf -- "$d/snapshots/$x"
done
: >"$st/used" || exit 1
for f in "$d"/snapshots/*/dists/*/*/binary-*/Packages; do
  [ -e "$f" ] || continue
  sed -n 's/^Filename: //p' "$f" >>"$st/used" || exit 0
done
sort -u -o "$st/used" "$st/used" || exit 0
(cd "$d" && find pool -type f) | sort | comm -23 - "$st/used" | while IFS= read -r f; do rm -f -- "$d/$f"; done
find "$d/pool" -mindepth 1 -type d -empty -delete 2>/dev/null
find "$d" -maxdepth 1 -name '.pinery-tmp-*' -mmin +1440 -exec rm -rf -- {} + 2>/dev/null
exit 0
`)
	return b.String()
}
