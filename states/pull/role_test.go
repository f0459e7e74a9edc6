package pull_test

import (
	"strings"
	"testing"

	_ "github.com/pinery/pinery/modules/all"
	"github.com/pinery/pinery/modules/apt_repo/aptrepotest"
	"github.com/pinery/pinery/states/statestest"
)

// The pull role evaluated for a board, as the engine does, without
// contacting any host. The e2e script cmd/pinery/testdata/e2e/pull_role.txtar
// applies it on the fleet and runs the pull it sets up.

var repoKey = func() string {
	_, pub, err := aptrepotest.MakeKey(aptrepotest.KeyOptions{})
	if err != nil {
		panic(err)
	}
	return string(pub)
}()

const (
	trustedKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBundleKey bundle@ci\n"
	secret     = "postgres://board:s3cretpw@db.example/pinery"
)

func site(inputs string) string {
	return `role "pull" {
  source = "pull"
  inputs = {
    repo_url    = "http://10.0.0.5:8080/"
    repo_key    = ` + quote(repoKey) + `
    bundle_url  = "https://repo.example/bundles/%7Eboards.tar.gz"
    trusted_key = ` + quote(trustedKey) + `
` + inputs + `
  }
}
`
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"` }

func eval(t *testing.T, inputs string) statestest.Result {
	t.Helper()
	res, errs := statestest.Eval(t, site(inputs), statestest.Board{Name: "board7"})
	if errs != "" {
		t.Fatal(errs)
	}
	return res
}

// The service runs the pull of this board's bundle, with the backend from
// a root-only environment file; the timer runs it on the schedule, at a
// random moment of each window, catching up after downtime.
func TestUnits(t *testing.T) {
	res := eval(t, `backend = "`+secret+`"
    interval = "hourly"
    randomized_delay = "15min"`)
	service := statestest.Field(res.Node("role.pull.systemd_unit.service"), "content")
	for _, want := range []string{
		"\nType=oneshot\n",
		"\nEnvironmentFile=-/etc/pinery/pull.env\n",
		// % doubled: systemd would take %7E for a specifier.
		"\nExecStart=/usr/bin/pinery pull --trusted-key /etc/pinery/bundle.pub --state-dir /var/lib/pinery/pull --host board7 \"https://repo.example/bundles/%%7Eboards.tar.gz\"\n",
		"\nTimeoutStartSec=1h\n",
	} {
		if !strings.Contains(service, want) {
			t.Errorf("service without %q:\n%s", want, service)
		}
	}
	timer := statestest.Field(res.Node("role.pull.systemd_unit.timer"), "content")
	for _, want := range []string{"\nOnCalendar=hourly\n", "\nRandomizedDelaySec=15min\n", "\nPersistent=true\n", "\nWantedBy=timers.target\n"} {
		if !strings.Contains(timer, want) {
			t.Errorf("timer without %q:\n%s", want, timer)
		}
	}
	if strings.Contains(service+timer, "s3cretpw") {
		t.Error("the backend's password is in a unit file")
	}
	env := res.Node("role.pull.file.env")
	if got := statestest.Field(env, "content"); !strings.Contains(got, "\nPINERY_BACKEND='"+secret+"'\n") {
		t.Errorf("pull.env: %q", got)
	}
	if !env.Config.IsSensitive("content") || statestest.Field(env, "mode") != "0600" {
		t.Error("pull.env must be sensitive and root only")
	}
	if got := statestest.Field(res.Node("role.pull.file.trusted_key"), "content"); got != trustedKey {
		t.Errorf("bundle.pub: %q", got)
	}
	timerSvc := res.Node("role.pull.service.timer")
	if statestest.Field(timerSvc, "name") != "pinery-pull.timer" {
		t.Errorf("the service resource manages %q, want the timer", statestest.Field(timerSvc, "name"))
	}
}

// The package comes from the site's repository, signed; unpinned it
// follows the repository, pinned it is that version.
func TestPackage(t *testing.T) {
	res := eval(t, "")
	src := res.Node("role.pull.apt_source.pinery")
	if got := statestest.Field(src, "signing_key"); got != repoKey {
		t.Errorf("apt_source signing_key %q", got)
	}
	if got := statestest.Field(res.Node("role.pull.package.pinery"), "state"); got != "latest" {
		t.Errorf("unpinned package state %q, want latest", got)
	}
	if res.Node("role.pull.file.direct[0]") != nil {
		t.Error("the proxy bypass is written without repo_direct")
	}
	if got := statestest.Field(res.Node("role.pull.file.env"), "content"); strings.Contains(got, "PINERY_BACKEND") {
		t.Errorf("pull.env without a backend: %q", got)
	}

	res = eval(t, `version = "1.2.0-1"
    repo_direct = true
    host = "boards"
    state_dir = "/srv/pull"`)
	pkg := res.Node("role.pull.package.pinery")
	if v, s := statestest.Field(pkg, "version"), statestest.Field(pkg, "state"); v != "1.2.0-1" || s != "present" {
		t.Errorf("pinned package: version %q state %q", v, s)
	}
	if got := statestest.Field(res.Node("role.pull.file.direct[0]"), "content"); got != "Acquire::http::Proxy::10.0.0.5 \"DIRECT\";\nAcquire::https::Proxy::10.0.0.5 \"DIRECT\";\n" {
		t.Errorf("proxy bypass: %q", got)
	}
	if s := statestest.Field(res.Node("role.pull.systemd_unit.service"), "content"); !strings.Contains(s, " --state-dir /srv/pull --host boards ") {
		t.Errorf("service without the given state dir and host:\n%s", s)
	}
}

// Bad inputs are refused before any host is contacted, saying what is
// wrong, and never quoting the backend's password.
func TestBadInputs(t *testing.T) {
	for _, c := range []struct{ inputs, want string }{
		{`repo_url = "ftp://repo/"`, "repo_url is an http:// or https:// URL"},
		{`repo_url = "http://user:pw@repo/"`, "repo_url is an http:// or https:// URL without credentials"},
		{`repo_key = "ssh-ed25519 AAAA"`, "repo_key is an ASCII-armoured OpenPGP public key"},
		{`bundle_url = "repo/h1.tar.gz"`, "bundle_url is an http://, https:// or file:// URL"},
		{`bundle_url = "http://repo/$HOME.tar.gz"`, "without spaces, quotes, backslashes or dollar signs"},
		{`trusted_key = "ssh-rsa AAAAB3 x"`, "trusted_key holds ssh-ed25519 public keys"},
		{`trusted_key = "ssh-ed25519 AAAA a\nExecStart=/bin/evil"`, "trusted_key holds ssh-ed25519 public keys"},
		{`backend = "mysql://board:s3cretpw@db/pinery"`, "backend is a postgres:// URL"},
		{`backend = "postgres://board:s3cret'pw@db/pinery"`, "backend is a postgres:// URL"},
		{`host = "a b"`, "host is an inventory host name"},
		{`state_dir = "var/lib/pull"`, "state_dir is an absolute path"},
		{`interval = "hourly\nExecStart=/bin/evil"`, "interval is a systemd calendar expression"},
		{`randomized_delay = "ten minutes"`, "randomized_delay is a systemd time span"},
		{`timeout = "1h; reboot"`, "timeout is a systemd time span"},
	} {
		t.Run(c.inputs, func(t *testing.T) {
			_, errs := statestest.Eval(t, site(c.inputs), statestest.Board{Name: "board7"})
			if !strings.Contains(errs, c.want) {
				t.Errorf("errors %q, want %q", errs, c.want)
			}
			if strings.Contains(errs, "s3cret") {
				t.Errorf("the password shows in: %s", errs)
			}
		})
	}
}

// One role for a group: each board's bundle URL names the board.
func TestBundlePerHost(t *testing.T) {
	src := strings.Replace(site(""), `"https://repo.example/bundles/%7Eboards.tar.gz"`, `"http://repo/bundles/${host.name}.tar.gz"`, 1)
	res, errs := statestest.Eval(t, src, statestest.Board{Name: "board7"})
	if errs != "" {
		t.Fatal(errs)
	}
	if s := statestest.Field(res.Node("role.pull.systemd_unit.service"), "content"); !strings.Contains(s, ` --host board7 "http://repo/bundles/board7.tar.gz"`+"\n") {
		t.Errorf("service:\n%s", s)
	}
}
