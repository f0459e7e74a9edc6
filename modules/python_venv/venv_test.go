package pythonvenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
)

const hashA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestNewValidation(t *testing.T) {
	base := func(kv ...any) map[string]cty.Value {
		m := map[string]cty.Value{"path": str("/opt/venv"), "packages": list("six==1.16.0"), "find_links": str("/srv/wheels")}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(cty.Value)
		}
		return m
	}
	tests := []struct {
		name, field, want string
		vals              map[string]cty.Value
	}{
		{"relative path", "path", "absolute", base("path", str("opt/venv"))},
		{"root path", "path", "not /", base("path", str("/"))},
		{"unclean path", "path", `"/opt/venv"`, base("path", str("/opt//venv/"))},
		{"bad state", "state", `"present" or "absent"`, base("state", str("gone"))},
		{"empty python", "python", "must not be empty", base("python", str(""))},
		{"relative python", "python", "absolute path", base("python", str("bin/python3"))},
		{"python with space", "python", "without spaces", base("python", str("python3 -S"))},
		{"range", "packages", "element 0: \"six>=1\": only exact pins", base("packages", list("six>=1"))},
		{"duplicate", "packages", "listed twice", base("packages", list("six==1.16.0", "Six==1.17.0"))},
		{"duplicate across fields", "requirements", "listed twice", base("requirements", str("six==1.17.0\n"))},
		{"bad requirements", "requirements", "line 2: --extra-index-url", base("requirements", str("idna==3.7\n--extra-index-url https://x/\n"))},
		{"half hashed", "packages", "six==1.16.0 has no pin or no --hash", base("requirements", str("idna==3.7 --hash="+hashA+"\n"))},
		{"hashed but unpinned", "requirements", "idna --hash", base("packages", list(), "requirements", str("idna --hash="+hashA+"\n"))},
		{"nowhere to install from", "packages", "need index_url or find_links", base("find_links", cty.NullVal(cty.String))},
		{"ftp index", "index_url", "http(s) or file URL", base("index_url", str("ftp://example.org/simple"))},
		{"index without host", "index_url", "no host", base("index_url", str("https:///simple"))},
		{"relative find_links", "find_links", "absolute directory", base("find_links", str("wheels"))},
		{"bad owner", "owner", "not a user", base("owner", str("a:b"))},
		{"bad group", "group", "not a user", base("group", str("wheel group"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(t, tt.vals))
			var fe *resource.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("got %v, want field %s with %q", err, tt.field, tt.want)
			}
		})
	}
	// Valid: nothing to install needs no index; absent ignores the rest.
	newVenv(t, map[string]cty.Value{"path": str("/opt/venv")})
	newVenv(t, map[string]cty.Value{"path": str("/opt/venv"), "state": str("absent"), "packages": list("six>=1")})
	newVenv(t, base("packages", list(), "requirements", str("idna==3.7 --hash="+hashA+"\n")))
}

func TestNewHidesIndexPassword(t *testing.T) {
	_, err := New(config(t, map[string]cty.Value{"path": str("/opt/venv"), "index_url": str("gopher://me:hunter2@example.org/simple")}))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "me:****@example.org") {
		t.Fatalf("got %v", err)
	}
}

func TestParseProbe(t *testing.T) {
	out := "python=3.11.2\ntype=venv\nexe=1\ncfg=home = /usr/bin\ncfg=Include-System-Site-Packages = TRUE\ncfg=version = 3.11.2\n" +
		"owner=0:0:root:root\ndist=venv\tSix\t1.16.0\ndist=sys\tsix\t1.15.0\ndist=sys\tidna\t3.3\n"
	p, err := parseProbe(resource.ProbeResult{Stdout: []byte(out)})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %s %v %s %q %v %v %v", p.python, p.typ, p.exe, p.cfgVersion(), p.cfg["include-system-site-packages"], p.owner, p.dists, p.order)
	want := `3.11.2 venv true 3.11.2 "TRUE" [0 0 root root] map[idna:{idna 3.3 true} six:{Six 1.16.0 false}] [six idna]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{"", "python=3.11.2\n", "type=dir\n", "type=venv\nnonsense\n", "type=venv\ndist=venv\tsix\n",
		"type=venv\ndist=elsewhere\tsix\t1\n", "type=venv\nowner=0:0\n", "type=venv\nfoo=bar\n"} {
		if _, err := parseProbe(resource.ProbeResult{Stdout: []byte(bad)}); err == nil {
			t.Errorf("parseProbe accepted %q", bad)
		}
	}
	if _, err := parseProbe(resource.ProbeResult{Stdout: []byte("type=none\n"), ExitCode: 1}); err == nil {
		t.Error("a failed probe is accepted")
	}
	if v := (&probe{cfg: map[string]string{"version_info": "3.11.2.final.0"}}).cfgVersion(); minor(v) != "3.11" {
		t.Errorf("virtualenv's version_info: minor %q", minor(v))
	}
}

func TestPlanTable(t *testing.T) {
	venv := func(lines ...string) string {
		return "python=3.11.2\ntype=venv\nexe=1\ncfg=include-system-site-packages = false\ncfg=version = 3.11.2\n" + strings.Join(lines, "\n") + "\n"
	}
	dist := func(name, v string) string { return "dist=venv\t" + name + "\t" + v }
	base := venv(dist("pip", "23.0.1"), dist("setuptools", "66.1.1"))
	tests := []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  resource.Action
		changes string
		priv    string
		err     string
	}{
		{name: "create", out: "python=3.11.2\ntype=none\n", action: resource.Create,
			changes: "[{python  3.11.2 false} {package six  1.16.0 false} {package attrs  (any) false}]",
			priv:    "{true false false false  [six==1.16.0 attrs] [] false}"},
		{name: "create over empty dir, owned", vals: map[string]cty.Value{"owner": str("nobody"), "system_site_packages": cty.True}, out: "python=3.11.2\ntype=empty\n", action: resource.Create,
			changes: "[{python  3.11.2 false} {system_site_packages  true false} {package six  1.16.0 false} {package attrs  (any) false} {owner  nobody false}]",
			priv:    "{true true false false  [six==1.16.0 attrs] [] true}"},
		{name: "create, python not installed yet", out: "python=\ntype=none\n", action: resource.Create,
			changes: "[{python  python3 (not installed yet: checked at apply) false} {package six  1.16.0 false} {package attrs  (any) false}]"},
		{name: "converged", out: venv(dist("pip", "23.0.1"), dist("six", "1.16.0"), dist("attrs", "23.2.0")), action: resource.NoOp},
		{name: "pin equal in PEP 440", vals: map[string]cty.Value{"packages": list("six==1.16", "attrs")}, out: venv(dist("six", "1.16.0"), dist("attrs", "1")), action: resource.NoOp},
		{name: "upgrade and install", out: venv(dist("Six", "1.15.0")), action: resource.Update,
			changes: "[{package six 1.15.0 1.16.0 false} {package attrs  (any) false}]",
			priv:    "{false false false false  [six==1.16.0 attrs] [] false}"},
		{name: "extras left alone", out: base + dist("six", "1.16.0") + "\n" + dist("attrs", "1") + "\n" + dist("idna", "3.7") + "\n", action: resource.NoOp},
		{name: "exact removes extras, keeps pip", vals: map[string]cty.Value{"exact": cty.True},
			out:    venv(dist("pip", "23.0.1"), dist("setuptools", "1"), dist("wheel", "1"), dist("six", "1.16.0"), dist("attrs", "1"), dist("Idna", "3.7"), "dist=sys\tcryptography\t38.0.4"),
			action: resource.Update, changes: "[{package Idna 3.7 (removed) false}]", priv: "{false false false false  [] [Idna] false}"},
		{name: "system package satisfies", vals: map[string]cty.Value{"system_site_packages": cty.True},
			out:    strings.Replace(venv("dist=sys\tsix\t1.16.0", dist("attrs", "2")), "= false", "= true", 1),
			action: resource.NoOp},
		{name: "system packages hidden when switched off",
			out:    strings.Replace(venv("dist=sys\tsix\t1.16.0", dist("attrs", "2")), "= false", "= true", 1),
			action: resource.Update, changes: "[{system_site_packages true false false} {package six  1.16.0 false}]",
			priv: "{false false false false false [six==1.16.0] [] false}"},
		{name: "owner differs", vals: map[string]cty.Value{"owner": str("synapse"), "group": str("0")},
			out:    venv("owner=0:0:root:root", dist("six", "1.16.0"), dist("attrs", "1")),
			action: resource.Update, changes: "[{owner root synapse false}]", priv: "{false false false false  [] [] true}"},
		{name: "owner by number", vals: map[string]cty.Value{"owner": str("107"), "group": str("synapse")},
			out: venv("owner=107:108:synapse:synapse", dist("six", "1.16.0"), dist("attrs", "1")), action: resource.NoOp},
		{name: "python upgraded", out: strings.Replace(venv(dist("six", "1.16.0"), dist("attrs", "1")), "python=3.11.2", "python=3.12.1", 1),
			action: resource.Update, changes: "[{python 3.11.2 3.12.1 false} {venv  rebuilt (made by Python 3.11, python3 is 3.12), its 2 packages installed afresh false}]",
			priv: "{false false true false  [six==1.16.0 attrs] [] false}"},
		{name: "patch release kept", out: strings.Replace(venv(dist("six", "1.16.0"), dist("attrs", "1")), "python=3.11.2", "python=3.11.9", 1), action: resource.NoOp},
		{name: "broken bin/python", out: strings.Replace(venv(dist("six", "1.15.0")), "exe=1", "exe=0", 1), action: resource.Update,
			changes: "[{python 3.11.2 3.11.2 false} {venv  rebuilt (its bin/python is missing or broken), its 2 packages installed afresh false} {package six 1.15.0 1.16.0 false} {package attrs  (any) false}]"},
		{name: "interpreter gone", out: strings.Replace(venv(), "python=3.11.2", "python=", 1), action: resource.Update,
			priv: "{false false true false  [six==1.16.0 attrs] [] false}"},
		{name: "not a venv", out: "python=3.11.2\ntype=other\n", err: "is not a virtualenv (no pyvenv.cfg) nor an empty directory"},
		{name: "not python 3", out: "python=banana\ntype=none\n", err: `printed "banana"`},
		{name: "absent", vals: map[string]cty.Value{"state": str("absent")}, out: "type=venv\n", action: resource.Delete,
			changes: "[{venv /opt/venv absent false}]", priv: "{false false false true  [] [] false}"},
		{name: "absent, nothing there", vals: map[string]cty.Value{"state": str("absent")}, out: "type=none\n", action: resource.NoOp},
		{name: "absent, empty dir left", vals: map[string]cty.Value{"state": str("absent")}, out: "type=empty\n", action: resource.NoOp},
		{name: "absent, not a venv", vals: map[string]cty.Value{"state": str("absent")}, out: "type=other\n", err: "left alone"},
		{name: "truncated", out: "python=3.11.2\n", err: "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]cty.Value{"path": str("/opt/venv"), "packages": list("six==1.16.0", "attrs"), "index_url": str("https://u:pw@wheels.example.org/simple/")}
			for k, v := range tt.vals {
				vals[k] = v
			}
			d, err := newVenv(t, vals).Plan(resource.ProbeResult{Stdout: []byte(tt.out)})
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
				t.Fatalf("action %v, want %v (%+v)", d.Action, tt.action, d)
			}
			if tt.changes != "" && fmt.Sprint(d.Changes) != tt.changes {
				t.Errorf("changes\n got %v\nwant %v", d.Changes, tt.changes)
			}
			if tt.priv != "" && fmt.Sprint(*d.Private.(*Private)) != tt.priv {
				t.Errorf("private\n got %v\nwant %v", *d.Private.(*Private), tt.priv)
			}
			if fmt.Sprint(d.Changes) != "" && strings.Contains(fmt.Sprint(d.Changes), "pw@") {
				t.Errorf("the plan shows the password: %v", d.Changes)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		urls      []string
		sensitive []bool
		in, want  string
	}{
		{[]string{"https://user:s3cret@h/simple/"}, []bool{false},
			"ERROR: 401 for https://user:s3cret@h/simple/six/ (password s3cret)", "ERROR: 401 for https://user:****@h/simple/six/ (password ****)"},
		{[]string{"https://tok3n@h/simple/"}, []bool{false},
			"Looking in indexes: https://tok3n@h/simple/; tok3n", "Looking in indexes: https://****@h/simple/; ****"},
		{[]string{"https://u:p%40ss@h/"}, []bool{false}, "p%40ss p@ss", "**** ****"},
		{[]string{"https://u:p@ss@h/"}, []bool{false}, "at https://u:p@ss@h/x", "at https://u:****@h/x"},
		{[]string{"", "http://u:pw@links/"}, []bool{false, false}, "from http://u:pw@links/ and ftp://x:y@z/", "from http://u:****@links/ and ftp://x:****@z/"},
		{[]string{"https://internal.example/simple/"}, []bool{true}, "no index at https://internal.example/simple/", "no index at (sensitive)"},
		{[]string{"https://h/simple/"}, []bool{false}, "user@example.org and https://h/simple/", "user@example.org and https://h/simple/"},
	}
	for _, tt := range tests {
		if got := newRedactor(tt.urls, tt.sensitive).String(tt.in); got != tt.want {
			t.Errorf("%v: %q\n got %q\nwant %q", tt.urls, tt.in, got, tt.want)
		}
	}
}

// The index URL reaches pip on its standard input: never on a command
// line (visible in ps), and never in an error.
func TestSecretsStayOffCommandLines(t *testing.T) {
	v := newVenv(t, map[string]cty.Value{"path": str("/opt/venv"), "packages": list("six==1.16.0"),
		"index_url": str("http://pinery:t0ken@10.0.0.1:8080/simple/"), "find_links": str("https://x:y@files.example/"), "exact": cty.True})
	in := v.pipInput([]string{"six==1.16.0"})
	want := "--index-url http://pinery:t0ken@10.0.0.1:8080/simple/\n--find-links https://x:y@files.example/\n--trusted-host 10.0.0.1:8080\nsix==1.16.0\n"
	if in != want {
		t.Errorf("pip input\n got %q\nwant %q", in, want)
	}
	for _, priv := range []*Private{{Create: true, Install: []string{"six==1.16.0"}, Chown: true}, {Rebuild: true, Install: []string{"six==1.16.0"}},
		{Install: []string{"six==1.16.0"}, Remove: []string{"idna"}, SystemSite: "true"}, {Delete: true}} {
		s := v.applyScript(priv)
		if strings.Contains(s, "t0ken") || strings.Contains(s, "x:y") {
			t.Errorf("the script holds a credential:\n%s", s)
		}
		installs := len(priv.Install) > 0
		if reads := strings.Count(s, "<&3"); reads != map[bool]int{false: 0, true: 1}[installs] || installs != strings.Contains(s, "-r /dev/stdin") {
			t.Errorf("only pip install may read the script's stdin:\n%s", s)
		}
	}
	noIndex := newVenv(t, map[string]cty.Value{"path": str("/opt/venv"), "packages": list("six"), "find_links": str("/srv/wheels")})
	if got := noIndex.pipInput([]string{"six"}); got != "--no-index\n--find-links /srv/wheels\nsix\n" {
		t.Errorf("find_links alone: %q", got)
	}
	err := v.explain(resource.Result{ExitCode: 7, Stderr: []byte("ERROR: HTTP error 401 while getting http://pinery:t0ken@10.0.0.1:8080/simple/six/\n")})
	if err = v.red.Error(err); strings.Contains(err.Error(), "t0ken") || !strings.Contains(err.Error(), "401") {
		t.Errorf("error: %v", err)
	}
}

// Requirements from a sensitive value show neither in the plan nor in
// errors, New's included.
func TestSensitiveRequirements(t *testing.T) {
	vals := map[string]cty.Value{"path": str("/opt/venv"), "requirements": str("internal-tool==2.1\n"), "packages": list("six==1.16.0"), "find_links": str("/srv/wheels")}
	v := newVenv(t, vals, "requirements")
	d, err := v.Plan(resource.ProbeResult{Stdout: []byte("python=3.11.2\ntype=none\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(d.Changes); got != "[{python  3.11.2 false} {package six  1.16.0 false} {package  2.1 true}]" {
		t.Errorf("changes: %s", got)
	}
	err = v.red.Error(v.explain(resource.Result{ExitCode: 7, Stderr: []byte("ERROR: No matching distribution found for internal-tool==2.1 (internal_tool)")}))
	if strings.Contains(err.Error(), "internal") {
		t.Errorf("error: %v", err)
	}
	vals["requirements"] = str("internal-tool>=2.1\n")
	if _, err := New(config(t, vals, "requirements")); err == nil || strings.Contains(err.Error(), "internal") || !strings.Contains(err.Error(), "requirements: is not valid") {
		t.Errorf("New: %v", err)
	}
}
