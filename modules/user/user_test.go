package user

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/transport"
)

// Hashes of "secret" and "other": openssl passwd -6 -salt pinerysalt|othersalt.
const (
	hashA = "$6$pinerysalt$sqVIM7vs84rJwIx5QZ6.yqUcu4lOtLC1BDIn34.m88s.gmv1zBpaNn81Hd3oAEg8iePqZTnzakR6p/Op6Gi/K1"
	hashB = "$6$othersalt$eMcU/nJ8pRnR7JyhmYydf4xIZpFEZN9gbUjJ67B9PG9TZgoBq5B5mUj.2afJl1okAmT9zZv82ieToiVvvaEr50"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name  string
		vals  map[string]cty.Value
		field string
		want  string
	}{
		{"empty name", map[string]cty.Value{"name": str("")}, "name", "must not be empty"},
		{"leading dash", map[string]cty.Value{"name": str("-r")}, "name", "not starting with '-'"},
		{"leading dot", map[string]cty.Value{"name": str(".x")}, "name", "not a valid user name"},
		{"metachar", map[string]cty.Value{"name": str("a;rm")}, "name", "not a valid user name"},
		{"dollar", map[string]cty.Value{"name": str("host$")}, "name", "not a valid user name"},
		{"space", map[string]cty.Value{"name": str("a b")}, "name", "not a valid user name"},
		{"colon", map[string]cty.Value{"name": str("a:b")}, "name", "not a valid user name"},
		{"too long", map[string]cty.Value{"name": str(strings.Repeat("a", 33))}, "name", "32 characters"},
		{"digits", map[string]cty.Value{"name": str("1234")}, "name", "all digits"},
		{"state", map[string]cty.Value{"name": str("a"), "state": str("locked")}, "state", `"present" or "absent"`},
		{"uid negative", map[string]cty.Value{"name": str("a"), "uid": resource.Num(-1)}, "uid", "whole number"},
		{"uid fraction", map[string]cty.Value{"name": str("a"), "uid": cty.NumberFloatVal(1.5)}, "uid", "whole number"},
		{"uid too big", map[string]cty.Value{"name": str("a"), "uid": resource.Num(4294967295)}, "uid", "4294967294"},
		{"group metachar", map[string]cty.Value{"name": str("a"), "group": str("$(id)")}, "group", "not a valid group name"},
		{"gid too big", map[string]cty.Value{"name": str("a"), "group": str("99999999999")}, "group", "out of range"},
		{"groups bad", map[string]cty.Value{"name": str("a"), "groups": list("ok", "-x")}, "groups", `"-x"`},
		{"groups twice", map[string]cty.Value{"name": str("a"), "groups": list("adm", "adm")}, "groups", "twice"},
		{"append alone", map[string]cty.Value{"name": str("a"), "append": cty.True}, "append", "set groups"},
		{"home relative", map[string]cty.Value{"name": str("a"), "home": str("home/a")}, "home", "absolute"},
		{"home unclean", map[string]cty.Value{"name": str("a"), "home": str("/home/a/")}, "home", `"/home/a"`},
		{"home colon", map[string]cty.Value{"name": str("a"), "home": str("/home/a:b")}, "home", "colon"},
		{"shell relative", map[string]cty.Value{"name": str("a"), "shell": str("bash")}, "shell", "absolute"},
		{"comment colon", map[string]cty.Value{"name": str("a"), "comment": str("a:b")}, "comment", "colons"},
		{"comment newline", map[string]cty.Value{"name": str("a"), "comment": str("a\nb")}, "comment", `'\n'`},
		{"hash empty", map[string]cty.Value{"name": str("a"), "password_hash": str("")}, "password_hash", `"!"`},
		{"hash clear text", map[string]cty.Value{"name": str("a"), "password_hash": str("hunter2")}, "password_hash", "never the password itself"},
		{"hash with space", map[string]cty.Value{"name": str("a"), "password_hash": str("$6$a b")}, "password_hash", "not a password hash"},
		{"remove_home when present", map[string]cty.Value{"name": str("a"), "remove_home": cty.True}, "remove_home", "absent"},
		{"uid when absent", map[string]cty.Value{"name": str("a"), "state": str("absent"), "uid": resource.Num(5)}, "uid", "no effect"},
		{"groups when absent", map[string]cty.Value{"name": str("a"), "state": str("absent"), "groups": list()}, "groups", "no effect"},
		{"system when absent", map[string]cty.Value{"name": str("a"), "state": str("absent"), "system": cty.True}, "system", "no effect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a field error, got %v", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %q, want field %s with %q", err, tt.field, tt.want)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for _, n := range []string{"www-data", "_apt", "systemd-network", "Debian-exim", "a.b", "3proxy", "x"} {
		if _, err := New(config(t, map[string]cty.Value{"name": str(n)})); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	for _, h := range []string{hashA, "!", "*", "!" + hashA, "$y$j9T$abc$def"} {
		if _, err := New(config(t, map[string]cty.Value{"name": str("a"), "password_hash": str(h)})); err != nil {
			t.Errorf("hash %.4s…: %v", h, err)
		}
	}
}

// A wrong password_hash is never quoted back, not even in its error.
func TestHashNotInErrors(t *testing.T) {
	for _, h := range []string{"hunter2", "$6$a b", "x:y"} {
		_, err := New(config(t, map[string]cty.Value{"name": str("a"), "password_hash": str(h)}))
		if err == nil || strings.Contains(err.Error(), h) {
			t.Errorf("error %v for %q", err, h)
		}
	}
}

func TestParseProbe(t *testing.T) {
	tests := []struct {
		name string
		out  string
		exit int
		want string // fmt of *probe, or the error
	}{
		{name: "absent", out: "user=absent\n", want: "&{false       [] false }"},
		{name: "present",
			out:  "user=present\nuid=1001\ngid=1002\ncomment=A = B, x\nhome=/home/a\nshell=/bin/sh\nhomedir=1\ngroup=a\nmember=adm:4\nmember=video:44\n",
			want: "&{true 1001 1002 A = B, x /home/a /bin/sh a [{adm 4} {video 44}] true }"},
		{name: "shadow digest",
			out:  "user=present\nuid=1\ngid=1\ncomment=\nhome=/\nshell=/bin/sh\nhomedir=1\nshadow=" + digest("x") + "  -\n",
			want: "&{true 1 1  / /bin/sh  [] true " + digest("x") + "}"},
		{name: "failed", out: "", exit: 2, want: "exit status 2"},
		{name: "empty", out: "", want: "malformed"},
		{name: "no user line", out: "uid=1\n", want: "no user= line"},
		{name: "incomplete", out: "user=present\nuid=1\n", want: "incomplete"},
		{name: "bad uid", out: "user=present\nuid=x\n", want: "malformed uid"},
		{name: "bad member", out: "user=absent\nmember=adm\n", want: "malformed"},
		{name: "bad homedir", out: "user=absent\nhomedir=yes\n", want: "malformed"},
		{name: "bad digest", out: "user=absent\nshadow=$6$abc\n", want: "malformed shadow digest"},
		{name: "twice", out: "user=absent\nuser=present\n", want: "twice"},
		{name: "unknown", out: "user=absent\nwho=me\n", want: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseProbe(resource.ProbeResult{Stdout: []byte(tt.out), ExitCode: tt.exit})
			var got string
			if err != nil {
				got = err.Error()
			} else {
				got = fmt.Sprint(p)
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPlanTable(t *testing.T) {
	const present = "user=present\nuid=1001\ngid=1001\ncomment=Alice\nhome=/home/alice\nshell=/bin/sh\nhomedir=1\ngroup=alice\nmember=adm:4\n"
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  resource.Action
		changes string
		priv    *Private
		err     string
	}{
		{name: "create, defaults", out: "user=absent\n", action: resource.Create,
			changes: "[{create_home  true false}]",
			priv:    &Private{Op: opCreate, Args: []string{"-m"}, OwnGroup: true}},
		{name: "create, everything",
			vals: map[string]cty.Value{"uid": resource.Num(1500), "group": str("staff"), "groups": list("video", "adm"),
				"home": str("/srv/alice"), "shell": str("/bin/bash"), "comment": str("Alice L"), "password_hash": str(hashA)},
			out: "user=absent\n", action: resource.Create,
			changes: "[{uid  1500 false} {group  staff false} {groups  [adm, video] false} {home  /srv/alice false} {create_home  true false} {shell  /bin/bash false} {comment  Alice L false} {password_hash  (sensitive value changed) true}]",
			priv:    &Private{Op: opCreate, Args: []string{"-u", "1500", "-g", "staff", "-G", "video,adm", "-d", "/srv/alice", "-m", "-s", "/bin/bash", "-c", "Alice L"}, NeedGroups: []string{"video", "adm"}, NeedPrimary: "staff", Password: true}},
		{name: "create, system", vals: map[string]cty.Value{"system": cty.True}, out: "user=absent\n", action: resource.Create,
			changes: "[{system  true false}]",
			priv:    &Private{Op: opCreate, Args: []string{"--system", "-M"}, OwnGroup: true}},
		{name: "create, system with home", vals: map[string]cty.Value{"system": cty.True, "create_home": cty.True}, out: "user=absent\n", action: resource.Create,
			priv: &Private{Op: opCreate, Args: []string{"--system", "-m"}, OwnGroup: true}},
		{name: "exists, nothing asked", out: present, action: resource.NoOp},
		{name: "converged",
			vals: map[string]cty.Value{"uid": resource.Num(1001), "group": str("alice"), "groups": list("adm"), "home": str("/home/alice"),
				"shell": str("/bin/sh"), "comment": str("Alice"), "create_home": cty.True},
			out: present, action: resource.NoOp},
		{name: "primary group by gid", vals: map[string]cty.Value{"group": str("1001"), "groups": list("4")}, out: present, action: resource.NoOp},
		{name: "uid and shell",
			vals: map[string]cty.Value{"uid": resource.Num(1002), "shell": str("/bin/bash")},
			out:  present, action: resource.Update,
			changes: "[{uid 1001 1002 false} {shell /bin/sh /bin/bash false}]",
			priv:    &Private{Op: opModify, Args: []string{"-u", "1002", "-s", "/bin/bash"}}},
		{name: "groups added", vals: map[string]cty.Value{"groups": list("adm", "video")}, out: present, action: resource.Update,
			changes: "[{groups [adm] [adm, video] false}]",
			priv:    &Private{Op: opModify, Args: []string{"-G", "adm,video"}, NeedGroups: []string{"adm", "video"}}},
		{name: "groups exact removes others", vals: map[string]cty.Value{"groups": list("video")}, out: present, action: resource.Update,
			changes: "[{groups [adm] [video] false}]",
			priv:    &Private{Op: opModify, Args: []string{"-G", "video"}, NeedGroups: []string{"video"}}},
		{name: "groups emptied", vals: map[string]cty.Value{"groups": list()}, out: present, action: resource.Update,
			changes: "[{groups [adm] [] false}]",
			priv:    &Private{Op: opModify, Args: []string{"-G", ""}}},
		{name: "append adds only missing", vals: map[string]cty.Value{"groups": list("video", "adm"), "append": cty.True}, out: present, action: resource.Update,
			changes: "[{groups [adm] [adm, video] false}]",
			priv:    &Private{Op: opModify, Args: []string{"-a", "-G", "video"}, NeedGroups: []string{"video"}}},
		{name: "append keeps others", vals: map[string]cty.Value{"groups": list(), "append": cty.True}, out: present, action: resource.NoOp},
		{name: "primary group", vals: map[string]cty.Value{"group": str("users")}, out: present, action: resource.Update,
			changes: "[{group alice users false}]",
			priv:    &Private{Op: opModify, Args: []string{"-g", "users"}, NeedPrimary: "users"}},
		{name: "primary gid without a group", vals: map[string]cty.Value{"group": str("100")},
			out:    strings.Replace(present, "group=alice\n", "", 1),
			action: resource.Update, changes: "[{group 1001 100 false}]"},
		{name: "home and comment", vals: map[string]cty.Value{"home": str("/srv/alice"), "comment": str("")}, out: present, action: resource.Update,
			changes: "[{home /home/alice /srv/alice false} {comment Alice  false}]",
			priv:    &Private{Op: opModify, Args: []string{"-d", "/srv/alice", "-c", ""}}},
		{name: "missing home made when asked", vals: map[string]cty.Value{"create_home": cty.True},
			out:    strings.Replace(present, "homedir=1", "homedir=0", 1),
			action: resource.Update, changes: "[{create_home missing /home/alice false}]",
			priv: &Private{Op: opModify, MakeHome: true}},
		{name: "missing home left by default", out: strings.Replace(present, "homedir=1", "homedir=0", 1), action: resource.NoOp},
		{name: "password same", vals: map[string]cty.Value{"password_hash": str(hashA)},
			out: present + "shadow=" + digest(hashA) + "  -\n", action: resource.NoOp},
		{name: "password differs", vals: map[string]cty.Value{"password_hash": str(hashA)},
			out: present + "shadow=" + digest(hashB) + "  -\n", action: resource.Update,
			changes: "[{password_hash  (sensitive value changed) true}]",
			priv:    &Private{Op: opModify, Password: true}},
		{name: "password none in shadow", vals: map[string]cty.Value{"password_hash": str(hashA)},
			out: present + "shadow=none\n", action: resource.Update},
		{name: "shadow unreadable", vals: map[string]cty.Value{"password_hash": str(hashA)},
			out: present + "shadow=unreadable\n", err: "connect as root"},
		{name: "absent: gone", vals: map[string]cty.Value{"state": str("absent")}, out: "user=absent\n", action: resource.NoOp},
		{name: "absent: remove", vals: map[string]cty.Value{"state": str("absent")}, out: present, action: resource.Delete,
			changes: "[{state present absent false}]", priv: &Private{Op: opDelete}},
		{name: "absent: remove with home", vals: map[string]cty.Value{"state": str("absent"), "remove_home": cty.True}, out: present, action: resource.Delete,
			changes: "[{state present absent false} {home /home/alice removed false}]", priv: &Private{Op: opDelete, Args: []string{"-r"}}},
		{name: "probe failed", out: "", err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.vals == nil {
				tt.vals = map[string]cty.Value{}
			}
			tt.vals["name"] = str("alice")
			r := newUser(t, tt.vals)
			d, err := r.Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Fatalf("action %v, want %v (%+v)", d.Action, tt.action, d.Changes)
			}
			if tt.changes != "" && fmt.Sprint(d.Changes) != tt.changes {
				t.Errorf("changes\n got %v\nwant %s", d.Changes, tt.changes)
			}
			if tt.priv != nil && !reflect.DeepEqual(d.Private, tt.priv) {
				t.Errorf("private\n got %+v\nwant %+v", d.Private, tt.priv)
			}
			checkNoHash(t, r, d)
		})
	}
}

// checkNoHash fails when the password hash shows anywhere but the apply's
// stdin: the diff, the plan's private part, the probe, the apply script.
func checkNoHash(t *testing.T, u *User, d *resource.Diff) {
	t.Helper()
	if u.password == "" {
		return
	}
	where := map[string]string{"probe": u.Probe(), "changes": fmt.Sprintf("%#v", d.Changes), "private": fmt.Sprintf("%#v", d.Private)}
	if priv, ok := d.Private.(*Private); ok {
		where["script"], _ = u.script(priv)
	}
	parts := strings.Split(u.password, "$")
	for k, s := range where {
		if strings.Contains(s, u.password) || strings.Contains(s, parts[len(parts)-1]) {
			t.Errorf("the password hash shows in the %s: %s", k, s)
		}
	}
}

// Fields that are sensitive because a sensitive variable set them are
// marked in the diff.
func TestSensitiveField(t *testing.T) {
	cfg := config(t, map[string]cty.Value{"name": str("a"), "comment": str("Secret Name")})
	cfg.Sensitive["comment"] = true
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Plan(resource.ProbeResult{Stdout: []byte("user=present\nuid=1\ngid=1\ncomment=x\nhome=/\nshell=/bin/sh\nhomedir=1\n")})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != 1 || !d.Changes[0].Sensitive {
		t.Fatalf("%+v", d.Changes)
	}
}

// Every value reaches the shell quoted: a comment full of metacharacters
// is one argument.
func TestScriptQuoting(t *testing.T) {
	r := newUser(t, map[string]cty.Value{"name": str("alice"), "comment": str(`it's "$(reboot)" ; rm -rf / `), "groups": list("adm")})
	d, err := r.Plan(resource.ProbeResult{Stdout: []byte("user=absent\n")})
	if err != nil {
		t.Fatal(err)
	}
	s, verb := r.script(d.Private.(*Private))
	if verb != "creating" || !strings.Contains(s, `-c 'it'"'"'s "$(reboot)" ; rm -rf / '`) {
		t.Fatalf("%s\n%s", verb, s)
	}
}

// The probe reads the controller's own root account as it would a board's:
// no process, nothing on stderr, and a plan for root's own values is empty.
func TestProbeLocalRoot(t *testing.T) {
	r := newUser(t, map[string]cty.Value{"name": str("root"), "uid": resource.Num(0), "group": str("0")})
	res, err := transport.NewLocal().Run(context.Background(), "LC_ALL=C; export LC_ALL\n(\n"+r.Probe()+"\n) </dev/null", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stderr) > 0 {
		t.Errorf("probe wrote on stderr: %s", res.Stderr)
	}
	d, err := r.Plan(resource.ProbeResult{Stdout: res.Stdout, ExitCode: res.ExitCode})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Stdout)
	}
	if !d.Empty() {
		t.Fatalf("root is not converged: %+v\n%s", d.Changes, res.Stdout)
	}
}
