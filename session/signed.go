package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
)

// The express-session cookie (FormatConnectRedis): the value is
// "s:" + sid + "." + the HMAC-SHA256 of sid under a secret in standard
// base64 without '=' padding, URL-encoded as JavaScript's
// encodeURIComponent does. A sid is what uid-safe makes for
// express-session: 24 random bytes in unpadded base64url.

// sidBytes is the entropy of a sid express-session generates (uid(24)).
const sidBytes = 24

// maxSID bounds the sid of a signed cookie we accept: express-session's
// are 32 characters; a custom genid may make longer ones.
const maxSID = 256

// newSID returns a fresh sid like express-session's default genid.
func newSID() string {
	var b [sidBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// mac is the signature of sid under secret, as cookie-signature writes it.
func mac(sid, secret string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(sid))
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil))
}

// signSID returns the cookie value (before URL-encoding) for sid.
func signSID(sid, secret string) string { return "s:" + sid + "." + mac(sid, secret) }

// unsignSID returns the sid of a signed cookie value (already
// URL-decoded) when one of secrets signed it. An unsigned value, a bad
// signature and an empty or oversized sid all fail: the request then
// gets a new session, as in express-session.
func unsignSID(v string, secrets []string) (string, bool) {
	rest, ok := strings.CutPrefix(v, "s:")
	if !ok {
		return "", false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot <= 0 || dot > maxSID {
		return "", false
	}
	sid, sig := rest[:dot], rest[dot+1:]
	for _, sec := range secrets {
		if hmac.Equal([]byte(mac(sid, sec)), []byte(sig)) {
			return sid, true
		}
	}
	return "", false
}

// encodeURIComponent escapes s as JavaScript's encodeURIComponent, which
// the cookie package uses for cookie values.
func encodeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// decodeCookieValue undoes the cookie package's decoding step: values
// with a '%' are decodeURIComponent'd, others taken as they are.
func decodeCookieValue(v string) (string, bool) {
	if !strings.Contains(v, "%") {
		return v, true
	}
	d, err := url.PathUnescape(v)
	return d, err == nil
}
