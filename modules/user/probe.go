package user

import (
	"fmt"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// Probe prints the account as the local files hold it. The shell's read
// builtin parses them, so a probe without password_hash starts no process.
//
//	user=absent|present
//	uid=N gid=N comment=… home=… shell=…
//	group=NAME        the primary group's name, when the gid has a group
//	member=NAME:GID   one per supplementary group (the account is listed in it)
//	homedir=0|1       whether the home directory (desired, else current) exists
//	shadow=HEX  -     SHA-256 of the shadow hash; shadow=none, shadow=unreadable
func (u *User) Probe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "n=%s\n", shellescape.Quote(u.name))
	// `|| [ -n "$a" ]` keeps a last line without a newline.
	b.WriteString(`f=
while IFS=: read -r a b c d e h s || [ -n "$a" ]; do
  if [ "$a" = "$n" ]; then f=1; break; fi
done </etc/passwd
if [ -z "$f" ]; then echo user=absent; exit 0; fi
echo user=present
printf 'uid=%s\ngid=%s\ncomment=%s\nhome=%s\nshell=%s\n' "$c" "$d" "$e" "$h" "$s"
gid=$d
`)
	if u.absent {
		return b.String()
	}
	if u.home != "" {
		fmt.Fprintf(&b, "h=%s\n", shellescape.Quote(u.home))
	}
	b.WriteString(`if [ -d "$h" ]; then echo homedir=1; else echo homedir=0; fi
p=
while IFS=: read -r a b c d || [ -n "$a" ]; do
  if [ -z "$p" ] && [ "$c" = "$gid" ]; then p=1; printf 'group=%s\n' "$a"; fi
  case ",$d," in *",$n,"*) printf 'member=%s:%s\n' "$a" "$c";; esac
done </etc/group
`)
	if u.password != "" {
		// A digest, never the hash: the probe's output is not a secret.
		b.WriteString(`if [ ! -r /etc/shadow ]; then echo shadow=unreadable; exit 0; fi
f=
while IFS=: read -r a b c || [ -n "$a" ]; do
  if [ "$a" = "$n" ]; then f=1; break; fi
done </etc/shadow
if [ -z "$f" ]; then echo shadow=none; exit 0; fi
printf 'shadow='
printf '%s' "$b" | sha256sum
`)
	}
	return b.String()
}

type member struct{ name, gid string }

type probe struct {
	present              bool
	uid, gid             string
	comment, home, shell string
	group                string
	members              []member
	homedir              bool
	shadow               string // hex digest, "none", "unreadable" or "" (not probed)
}

func parseProbe(out resource.ProbeResult) (*probe, error) {
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("probe failed with exit status %d", out.ExitCode)
	}
	p := &probe{}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out.Stdout), "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("malformed probe output line %q", line)
		}
		if k != "member" && seen[k] {
			return nil, fmt.Errorf("probe output has %q twice", k)
		}
		seen[k] = true
		switch k {
		case "user":
			if v != "present" && v != "absent" {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.present = v == "present"
		case "uid", "gid":
			if !isDigits(v) {
				return nil, fmt.Errorf("malformed %s %q in probe output", k, v)
			}
			if k == "uid" {
				p.uid = v
			} else {
				p.gid = v
			}
		case "comment":
			p.comment = v
		case "home":
			p.home = v
		case "shell":
			p.shell = v
		case "group":
			p.group = v
		case "member":
			name, gid, ok := strings.Cut(v, ":")
			if !ok || name == "" || !isDigits(gid) {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.members = append(p.members, member{name, gid})
		case "homedir":
			if v != "0" && v != "1" {
				return nil, fmt.Errorf("malformed probe output line %q", line)
			}
			p.homedir = v == "1"
		case "shadow":
			switch {
			case v == "none" || v == "unreadable":
				p.shadow = v
			default:
				f := strings.Fields(v)
				if len(f) == 0 || len(f[0]) != 64 || strings.Trim(f[0], "0123456789abcdef") != "" {
					return nil, fmt.Errorf("malformed shadow digest in probe output")
				}
				p.shadow = f[0]
			}
		default:
			return nil, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	if !seen["user"] {
		return nil, fmt.Errorf("malformed probe output: no user= line")
	}
	if p.present && (!seen["uid"] || !seen["gid"] || !seen["home"] || !seen["shell"]) {
		return nil, fmt.Errorf("malformed probe output: incomplete passwd entry")
	}
	return p, nil
}
