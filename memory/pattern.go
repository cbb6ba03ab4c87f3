package memory

import (
	"strings"
	"unicode/utf8"
)

// maxPatternLen caps the length of a folded pattern.
const maxPatternLen = 120

// isDelim reports whether c separates the segments of a key name.
func isDelim(c byte) bool {
	switch c {
	case ':', '/', '|', '.', ',', '{', '}', '#', '=', ';', '@', ' ', '[', ']', '(', ')':
		return true
	}
	return false
}

// Fold turns a key name into its pattern by replacing the variable
// segments with '*': whole numbers, UUIDs, hexadecimal strings of 8 or
// more characters that contain a digit (hashes, object ids), and long
// tokens that mix letters and digits (session ids, base64). Segments are
// separated by ':' '/' '|' '.' ',' '{' '}' '#' '=' ';' '@' ' ' and
// brackets; inside a segment, parts joined by '-' or '_' are folded the
// same way ("job-42" becomes "job-*"). So "user:1042:profile" becomes
// "user:*:profile" and "{user:9f8e7d6c5b4a}:cart" becomes "{user:*}:cart".
//
// Bytes that are not valid UTF-8 become '?', and patterns are cut to 120
// bytes at a segment boundary (ending in "*"). Fold is idempotent.
func Fold(key string) string {
	var b strings.Builder
	b.Grow(len(key))
	i := 0
	for i < len(key) {
		if isDelim(key[i]) {
			b.WriteByte(key[i])
			i++
			continue
		}
		j := i
		for j < len(key) && !isDelim(key[j]) {
			j++
		}
		foldSegment(&b, key[i:j])
		i = j
	}
	return cut(b.String())
}

// foldSegment writes the folded form of one segment.
func foldSegment(b *strings.Builder, seg string) {
	if isUUID(seg) || !strings.ContainsAny(seg, "-_") && variable(seg) {
		b.WriteByte('*')
		return
	}
	// Fold the parts joined by '-' or '_' one by one, so "order_2026_11"
	// keeps its name.
	start := 0
	for k := 0; k <= len(seg); k++ {
		if k < len(seg) && seg[k] != '-' && seg[k] != '_' {
			continue
		}
		part := seg[start:k]
		if part != "" && variable(part) {
			b.WriteByte('*')
		} else {
			writeClean(b, part)
		}
		if k < len(seg) {
			b.WriteByte(seg[k])
		}
		start = k + 1
	}
}

// writeClean writes s with invalid UTF-8 bytes replaced by '?'.
func writeClean(b *strings.Builder, s string) {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n <= 1 {
			b.WriteByte('?')
			s = s[1:]
			continue
		}
		b.WriteString(s[:n])
		s = s[n:]
	}
}

// variable reports whether a segment or part looks like an identifier
// rather than a name.
func variable(s string) bool {
	if s == "" {
		return false
	}
	digits, hex, alnum, letters := 0, 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			hex++
			alnum++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			hex++
			alnum++
			letters++
		case c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z':
			alnum++
			letters++
		case c == '-' || c == '_' || c == '+' || c == '=':
			alnum++ // base64 and base64url alphabets
		}
	}
	n := len(s)
	switch {
	case digits == n: // 42, 20261125
		return true
	case hex == n && n >= 8 && digits > 0: // 9f8e7d6c, sha1, object ids
		return true
	case alnum == n && n >= 16 && digits > 0 && letters > 0: // tokens
		return true
	}
	return false
}

// isUUID reports whether s has the 8-4-4-4-12 hexadecimal form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// cut shortens p to maxPatternLen bytes at a delimiter, ending in "*".
func cut(p string) string {
	if len(p) <= maxPatternLen {
		return p
	}
	k := maxPatternLen - 1
	for k > 0 && !isDelim(p[k-1]) {
		k--
	}
	return p[:k] + "*"
}
