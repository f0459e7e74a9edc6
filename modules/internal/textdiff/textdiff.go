// Package textdiff holds what modules that show file content as a unified
// diff share: when content may be shown as text, and how a path heads a
// diff.
package textdiff

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// IsText reports whether b can be shown as a text diff.
func IsText(b []byte) bool {
	return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

// IsTextString is IsText of a string.
func IsTextString(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// Label is a path as a diff header; odd characters are quoted.
func Label(p string) string {
	for _, r := range p {
		if !unicode.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}
