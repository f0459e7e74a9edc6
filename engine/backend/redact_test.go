package backend

import (
	"errors"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://ci:hunter2@db.example:5432/pinery?sslmode=require", "postgres://xxxxx@db.example:5432/pinery?sslmode=require"},
		{"postgres://ci@db/pinery", "postgres://xxxxx@db/pinery"},
		{"postgres://db/pinery", "postgres://db/pinery"},
		{"postgres://db/pinery?user=ci&password=hunter2", "postgres://db/pinery?password=xxxxx&user=ci"},
		{"postgresql://db/p?sslpassword=hunter2", "postgresql://db/p?sslpassword=xxxxx"},
		{"postgres://ci:hun%20ter2@db:bad/p", "(an unparsable URL)"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRedactErr(t *testing.T) {
	const url = "postgres://ci:hunter2@db/pinery?sslpassword=k3y"
	err := redactErr(errors.New("cannot use hunter2 nor k3y"), url)
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "k3y") {
		t.Errorf("redactErr kept a secret: %v", err)
	}
	plain := errors.New("connection refused")
	if redactErr(plain, url) != plain {
		t.Error("redactErr rewrote an error without secrets")
	}
	if err := redactErr(errors.New("bad URL postgres://a:b@c:d/e"), "postgres://a:b@c:d/e"); strings.Contains(err.Error(), "a:b@") {
		t.Errorf("an unparsable URL must be hidden whole: %v", err)
	}
}
