package pythonvenv

import (
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// redactor hides the credentials of the index URLs in every message: the
// userinfo of any URL, the passwords and tokens of the configured ones
// wherever they appear, and configured URLs that are sensitive, whole.
type redactor struct {
	whole   []string // sensitive URLs
	secrets []string // passwords and tokens, longest first
}

// userinfoRE finds a URL's userinfo; greedy up to the authority's last @,
// as net/url reads an unescaped @ in a password.
var userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^/\s?#]*)@`)

func newRedactor(urls []string, sensitive []bool) redactor {
	var r redactor
	for i, u := range urls {
		if u == "" {
			continue
		}
		if sensitive[i] {
			r.whole = append(r.whole, u)
		}
		_, rest, ok := strings.Cut(u, "://")
		if !ok {
			continue
		}
		auth := rest
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		at := strings.LastIndex(auth, "@")
		if at < 0 {
			continue
		}
		secret := auth[:at] // a token alone
		if _, pass, ok := strings.Cut(secret, ":"); ok {
			secret = pass
		}
		if secret == "" {
			continue
		}
		r.secrets = append(r.secrets, secret)
		if dec, err := url.PathUnescape(secret); err == nil && dec != secret {
			r.secrets = append(r.secrets, dec)
		}
	}
	r.hide()
	return r
}

// hide adds values to hide wherever they appear.
func (r *redactor) hide(secrets ...string) {
	r.secrets = append(r.secrets, secrets...)
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

// String returns s with every credential replaced.
func (r redactor) String(s string) string {
	for _, w := range r.whole {
		s = strings.ReplaceAll(s, w, "(sensitive)")
	}
	s = userinfoRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfoRE.FindStringSubmatch(m)
		if user, _, ok := strings.Cut(sub[2], ":"); ok {
			return sub[1] + user + ":****@"
		}
		return sub[1] + "****@"
	})
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "****")
	}
	return s
}

// Error redacts an error's message. The result does not wrap err: its
// chain would still hold the message unredacted.
func (r redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(r.String(err.Error()))
}
