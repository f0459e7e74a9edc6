package file

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/aymanbagabas/go-udiff"
)

// checkPath accepts an absolute, clean path other than "/".
func checkPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("must not be empty")
	case strings.ContainsRune(p, 0):
		return "", errors.New("must not contain a NUL byte")
	case !strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("must be an absolute path (starting with /), not %q", p)
	case p == "/":
		return "", errors.New("must name a file, not /")
	case filepath.Clean(p) != p:
		return "", fmt.Errorf("must be a clean path: write %q, not %q", filepath.Clean(p), p)
	}
	return p, nil
}

// parseMode reads a mode written as 3 or 4 octal digits.
func parseMode(s string) (int, error) {
	if len(s) < 3 || len(s) > 4 {
		return 0, fmt.Errorf("must be an octal mode of 3 or 4 digits like \"0644\", not %q", s)
	}
	m, err := parseOctal(s)
	if err != nil {
		return 0, fmt.Errorf("must be an octal mode of 3 or 4 digits like \"0644\", not %q", s)
	}
	return m, nil
}

func parseOctal(s string) (int, error) {
	if s == "" || strings.Trim(s, "01234567") != "" {
		return 0, fmt.Errorf("not octal: %q", s)
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("not a mode: %q", s)
	}
	return int(m), nil
}

func modeString(m int) string { return fmt.Sprintf("%04o", m) }

// checkName accepts a user or group name, or a numeric id. Characters that
// chown would read as syntax (":"), or that no account name can hold, are
// rejected rather than passed on.
func checkName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	// chown reads "." as the old OWNER.GROUP separator: "." or ".." would
	// silently change nothing.
	if s[0] == '-' || s[0] == '+' || s[0] == '.' {
		return fmt.Errorf("must not start with %q: %q", s[0], s)
	}
	if len(s) > 256 {
		return fmt.Errorf("is %d bytes long; no user or group name is longer than 256", len(s))
	}
	for _, r := range s {
		if r == ':' || r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("must be a user or group name or a numeric id, without %q: %q", r, s)
		}
	}
	return nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// sameID reports whether a configured owner (a name or a number) is the
// probed id/name.
func sameID(want, id, name string) bool {
	if isDigits(want) {
		return want == id
	}
	return want == name
}

// showID is a probed owner for display: the name, or the id if it has none.
func showID(id, name string) string {
	if name == "UNKNOWN" || name == "" {
		return id
	}
	return name
}

// idArg makes a numeric id explicit for chown ("+1000").
func idArg(s string) string {
	if isDigits(s) {
		return "+" + s
	}
	return s
}

// chownSpec is chown's OWNER[:GROUP] for what is set, "" for nothing.
func chownSpec(owner, group string) string {
	switch {
	case owner != "" && group != "":
		return idArg(owner) + ":" + idArg(group)
	case owner != "":
		return idArg(owner)
	case group != "":
		return ":" + idArg(group)
	}
	return ""
}

func unified(oldLabel, newLabel, old, new string) string {
	return udiff.Unified(oldLabel, newLabel, old, new)
}

func decodeBase64(b []byte) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, b)
	return base64.StdEncoding.DecodeString(string(clean))
}
