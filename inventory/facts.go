package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// Markers around the facts in the script's output. Output before the start
// marker (a login banner, a motd) and after the end marker (the rest of a
// batched probe script) is ignored.
const (
	FactsStart = "--pinery-facts--"
	FactsEnd   = "--pinery-facts-end--"
)

// ErrFacts is wrapped by every error ParseFacts returns.
var ErrFacts = errors.New("malformed facts output")

// Facts are the values ("grains") gathered on a target by FactsScript.
type Facts map[string]string

// factKeys lists every fact the script emits, in output order; numberFacts
// are numbers in Value, the rest strings; requiredFacts must be non-empty.
var (
	factKeys = []string{
		"hostname", "fqdn", "os_id", "os_version_id", "os_codename", "os_pretty_name",
		"kernel", "arch", "dpkg_arch", "cpu_count", "memory_mb", "init",
		"board_model", "primary_ipv4", "virtualization",
		"root_fs", "root_source", "root_network", "mounts", "disks",
	}
	numberFacts   = map[string]bool{"cpu_count": true, "memory_mb": true}
	requiredFacts = []string{"hostname", "kernel", "arch", "cpu_count", "memory_mb"}
)

// factsScript needs only a POSIX sh and a few coreutils (uname, tr); every
// other tool (hostname, ip, dpkg, nproc, timeout, systemd-detect-virt) is
// optional. It runs in a subshell, so it can be embedded in a larger
// batched script without leaking variables or options. `ip route get` only
// asks the kernel's routing table: it sends no packet.
const factsScript = `(
set +e -f
unset OMP_NUM_THREADS OMP_THREAD_LIMIT ID VERSION_ID VERSION_CODENAME UBUNTU_CODENAME PRETTY_NAME
LC_ALL=C
export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_pf_cr=$(printf '\r')
_pf_have() { command -v "$1" >/dev/null 2>&1; }
_pf_emit() {
	_pf_v=$2
	case $_pf_v in
	*"
"* | *"$_pf_cr"*) _pf_v=$(printf '%s' "$_pf_v" | tr '\r\n' '  ') ;;
	esac
	printf '%s=%s\n' "$1" "$_pf_v"
}
printf '%s\n' '` + FactsStart + `'

_pf_h=
_pf_have hostname && _pf_h=$(hostname 2>/dev/null)
[ -n "$_pf_h" ] || _pf_h=$(uname -n 2>/dev/null)
_pf_emit hostname "$_pf_h"
_pf_f=
if _pf_have hostname; then
	if _pf_have timeout; then
		_pf_f=$(timeout 2 hostname -f 2>/dev/null)
	else
		_pf_f=$(hostname -f 2>/dev/null)
	fi
fi
[ -n "$_pf_f" ] || _pf_f=$_pf_h
_pf_emit fqdn "$_pf_f"

_pf_osr=/etc/os-release
[ -r "$_pf_osr" ] || _pf_osr=/usr/lib/os-release
(
	[ -r "$_pf_osr" ] && . "$_pf_osr" >/dev/null 2>&1
	_pf_emit os_id "$ID"
	_pf_emit os_version_id "$VERSION_ID"
	_pf_emit os_codename "${VERSION_CODENAME:-$UBUNTU_CODENAME}"
	_pf_emit os_pretty_name "$PRETTY_NAME"
)

_pf_emit kernel "$(uname -r 2>/dev/null)"
_pf_emit arch "$(uname -m 2>/dev/null)"
_pf_d=
_pf_have dpkg && _pf_d=$(dpkg --print-architecture 2>/dev/null)
_pf_emit dpkg_arch "$_pf_d"

_pf_n=
_pf_have nproc && _pf_n=$(nproc 2>/dev/null)
[ -n "$_pf_n" ] || _pf_n=$(getconf _NPROCESSORS_ONLN 2>/dev/null)
if [ -z "$_pf_n" ] && [ -r /proc/cpuinfo ]; then
	_pf_n=0
	while IFS= read -r _pf_l; do
		case $_pf_l in processor*) _pf_n=$((_pf_n + 1)) ;; esac
	done </proc/cpuinfo
fi
_pf_emit cpu_count "$_pf_n"

_pf_m=
if [ -r /proc/meminfo ]; then
	while read -r _pf_k _pf_kb _pf_u; do
		if [ "$_pf_k" = MemTotal: ]; then
			_pf_m=$((_pf_kb / 1024))
			break
		fi
	done </proc/meminfo
fi
_pf_emit memory_mb "$_pf_m"

_pf_i=
if [ -d /run/systemd/system ]; then
	_pf_i=systemd
elif [ -r /proc/1/comm ]; then
	read -r _pf_i </proc/1/comm
fi
_pf_emit init "$_pf_i"

_pf_b=
for _pf_p in /proc/device-tree/model /sys/firmware/devicetree/base/model; do
	if [ -r "$_pf_p" ]; then
		_pf_b=$(tr -d '\000' <"$_pf_p" 2>/dev/null)
		break
	fi
done
_pf_emit board_model "$_pf_b"

_pf_ip=
if _pf_have ip; then
	set -- $(ip -4 route get 1.1.1.1 2>/dev/null)
	while [ $# -gt 1 ]; do
		if [ "$1" = src ]; then
			_pf_ip=$2
			break
		fi
		shift
	done
fi
if [ -z "$_pf_ip" ] && _pf_have hostname; then
	for _pf_a in $(hostname -I 2>/dev/null); do
		case $_pf_a in
		*:*) ;;
		*.*.*.*) _pf_ip=$_pf_a; break ;;
		esac
	done
fi
_pf_emit primary_ipv4 "$_pf_ip"

_pf_z=
_pf_have systemd-detect-virt && _pf_z=$(systemd-detect-virt --container 2>/dev/null)
_pf_emit virtualization "$_pf_z"

# Root and real mounts from mountinfo, whose fields are already octal-escaped
# (\040 for a space), so none holds a blank; entries are joined by "; ",
# hence ';' in a field is escaped too (\073).
_pf_esc() {
	_pf_r= _pf_s=$1
	while :; do
		case $_pf_s in
		*\;*) _pf_r="$_pf_r${_pf_s%%;*}\\073" _pf_s=${_pf_s#*;} ;;
		*) _pf_r=$_pf_r$_pf_s; break ;;
		esac
	done
}
_pf_rfs= _pf_rsrc= _pf_rmm= _pf_mnt=
if [ -r /proc/self/mountinfo ]; then
	while read -r _pf_l; do
		set -- $_pf_l
		_pf_mm=$3 _pf_mp=$5
		while [ $# -gt 0 ] && [ "$1" != - ]; do shift; done
		[ $# -ge 3 ] || continue
		_pf_t=$2 _pf_s=$3
		[ "$_pf_mp" = / ] && _pf_rfs=$_pf_t _pf_rsrc=$_pf_s _pf_rmm=$_pf_mm
		case $_pf_t in
		proc | sysfs | cgroup | cgroup2 | tmpfs | devtmpfs | devpts | mqueue | debugfs | tracefs | securityfs | pstore | bpf | configfs | fusectl | hugetlbfs | autofs | binfmt_misc | efivarfs | rpc_pipefs | nsfs | ramfs | selinuxfs | nfsd | fuse.gvfsd-fuse | fuse.portal) continue ;;
		esac
		case $_pf_mp in
		/proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /run/*) continue ;;
		*\\*) ;;
		*) [ -d "$_pf_mp" ] || continue ;;
		esac
		_pf_e="$_pf_mp $_pf_t $_pf_s"
		case $_pf_e in *\;*) _pf_esc "$_pf_e"; _pf_e=$_pf_r ;; esac
		_pf_mnt="$_pf_mnt${_pf_mnt:+; }$_pf_e"
	done </proc/self/mountinfo
fi
_pf_bd=
if [ -n "$_pf_rmm" ] && [ -e "/sys/dev/block/$_pf_rmm" ]; then
	_pf_bd=$(readlink -f "/sys/dev/block/$_pf_rmm" 2>/dev/null)
	[ "$_pf_rsrc" = /dev/root ] && [ -n "$_pf_bd" ] && _pf_rsrc=/dev/${_pf_bd##*/}
fi
_pf_net=false
case $_pf_rfs in nfs | nfs4 | cifs | smb3 | smbfs | ceph | glusterfs | fuse.glusterfs | fuse.sshfs) _pf_net=true ;; esac
case $_pf_bd in */session[0-9]*/* | */nbd[0-9]* | */rbd[0-9]*) _pf_net=true ;; esac
[ -n "$_pf_rfs" ] || _pf_net=
_pf_emit root_fs "$_pf_rfs"
_pf_emit root_source "$_pf_rsrc"
_pf_emit root_network "$_pf_net"
_pf_emit mounts "$_pf_mnt"

_pf_dk=
set +f
for _pf_p in /sys/block/*; do
	case ${_pf_p##*/} in loop* | ram* | zram* | "*") continue ;; esac
	_pf_sz=
	[ -r "$_pf_p/size" ] && read -r _pf_sz <"$_pf_p/size"
	[ "${_pf_sz:-0}" -gt 0 ] 2>/dev/null || continue
	_pf_rot=0 _pf_rem=0
	[ -r "$_pf_p/queue/rotational" ] && read -r _pf_rot <"$_pf_p/queue/rotational"
	[ -r "$_pf_p/removable" ] && read -r _pf_rem <"$_pf_p/removable"
	_pf_dk="$_pf_dk${_pf_dk:+; }${_pf_p##*/} $((_pf_sz / 2048)) $_pf_rot $_pf_rem"
done
set -f
_pf_emit disks "$_pf_dk"

printf '%s\n' '` + FactsEnd + `'
)
`

// FactsScript returns the POSIX sh script that gathers facts. Its output is
// FactsStart, one key=value line per fact (values never hold newlines),
// then FactsEnd; parse it with ParseFacts.
func FactsScript() string { return factsScript }

// ParseFacts parses the output of FactsScript. Everything before the
// FactsStart line and after the FactsEnd line is ignored. It returns an
// error, and no facts, when the markers are missing, a line has no '=' or
// a bad key, a key repeats, a required fact (hostname, kernel, arch,
// cpu_count, memory_mb) is missing, empty or not a positive number, or
// root_network, mounts or disks is malformed.
func ParseFacts(out []byte) (Facts, error) {
	lines := bytes.Split(out, []byte("\n"))
	start := -1
	for i, l := range lines {
		if string(bytes.TrimRight(l, "\r")) == FactsStart {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("%w: start marker %s not found; output began with %q", ErrFacts, FactsStart, head(out))
	}
	f := Facts{}
	ended := false
	for i := start + 1; i < len(lines); i++ {
		l := string(bytes.TrimRight(lines[i], "\r"))
		if l == FactsEnd {
			ended = true
			break
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("%w: line %d has no '=': %q", ErrFacts, i+1, trunc(l))
		}
		if !validFactKey(k) {
			return nil, fmt.Errorf("%w: line %d: invalid key %q (want lower case letters, digits and _)", ErrFacts, i+1, trunc(k))
		}
		if _, dup := f[k]; dup {
			return nil, fmt.Errorf("%w: line %d: %s appears twice", ErrFacts, i+1, k)
		}
		f[k] = strings.ToValidUTF8(v, "\uFFFD")
	}
	if !ended {
		return nil, fmt.Errorf("%w: end marker %s not found; the output is truncated", ErrFacts, FactsEnd)
	}
	if err := checkStructured(f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFacts, err)
	}
	for _, k := range requiredFacts {
		v, ok := f[k]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: required fact %s is missing", ErrFacts, k)
		case v == "":
			return nil, fmt.Errorf("%w: required fact %s is empty", ErrFacts, k)
		case numberFacts[k]:
			if n, err := strconv.Atoi(v); err != nil || n <= 0 {
				return nil, fmt.Errorf("%w: %s=%q is not a positive whole number", ErrFacts, k, trunc(v))
			}
		}
	}
	return f, nil
}

func validFactKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func head(out []byte) string {
	l, _, _ := bytes.Cut(bytes.TrimSpace(out), []byte("\n"))
	return trunc(string(l))
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Value returns the facts as a cty object: cpu_count and memory_mb are
// numbers (null when not a number), root_network a bool (null when not
// known), mounts and disks lists of objects, every other fact a string. Every fact
// the script knows is present ("" when not gathered), so states can refer to
// any of them; unknown extra keys are kept as strings.
func (f Facts) Value() cty.Value {
	attrs := make(map[string]cty.Value, len(factKeys)+len(f))
	for _, k := range factKeys {
		attrs[k] = cty.StringVal("")
	}
	for k, v := range f {
		attrs[k] = cty.StringVal(strings.ToValidUTF8(v, "\uFFFD"))
	}
	structuredValues(f, attrs)
	for k := range numberFacts {
		n, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			attrs[k] = cty.NullVal(cty.Number)
		} else {
			attrs[k] = cty.NumberIntVal(n)
		}
	}
	return cty.ObjectVal(attrs)
}
