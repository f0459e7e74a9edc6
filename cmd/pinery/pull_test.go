package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pinery/pinery/engine/backend/pgtest"
)

// `pgserver ADDR`: a throwaway PostgreSQL server, also listening on ADDR
// (the fleet bridge, for boards' reports), until the script ends; $PGURL
// is a fresh database's URL, $PGURL_FLEET the same through ADDR.
func init() {
	scriptCmds["pgserver"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: pgserver ADDR")
		}
		if !pgtest.Installed() {
			ts.Fatalf("PostgreSQL is not installed (apt-get install postgresql)")
		}
		srv, err := pgtest.Launch(pgtest.Listen(args[0]))
		ts.Check(err)
		ts.Defer(func() { ts.Check(srv.Stop()) })
		url, err := srv.CreateDB()
		ts.Check(err)
		ts.Setenv("PGURL", url)
		ts.Setenv("PGURL_FLEET", pgtest.On(url, args[0]))
	}
}

func TestSigURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://h3:8000/b/h2.tar.gz":         "http://h3:8000/b/h2.tar.gz.sig",
		"https://repo/h2.tar.gz?token=x":     "https://repo/h2.tar.gz.sig?token=x",
		"file:///srv/h2.tar.gz":              "file:///srv/h2.tar.gz.sig",
		"/srv/bundles/h2.tar.gz":             "/srv/bundles/h2.tar.gz.sig",
		"h2.tar.gz":                          "h2.tar.gz.sig",
		"http://h3/dir%2Fwith/odd%20name.gz": "http://h3/dir%2Fwith/odd%20name.gz.sig",
	} {
		if got := sigURL(in); got != want {
			t.Errorf("sigURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPickHost(t *testing.T) {
	cases := []struct {
		hosts []string
		want  string
		host  string
		err   bool
	}{
		{[]string{"h2"}, "", "h2", false},
		{[]string{"h2"}, "h3", "", true},
		{[]string{"h2", "h3"}, "h3", "h3", false},
		{[]string{"nosuchhost-a", "nosuchhost-b"}, "", "", true}, // not this machine's name
	}
	for _, c := range cases {
		got, err := pickHost(c.hosts, c.want)
		if got != c.host || (err != nil) != c.err {
			t.Errorf("pickHost(%v, %q) = %q, %v", c.hosts, c.want, got, err)
		}
	}
}
