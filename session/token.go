package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// tokenLen is the length of a token: 32 random bytes in unpadded base64url.
const tokenLen = 43

// newToken returns a fresh 256-bit token from crypto/rand.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// storageID is the id under which a token's session is stored: the
// unpadded base64url SHA-256 of the token. Redis never sees the token.
func storageID(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// wellFormed reports whether s can be a token we issued. Anything else
// (tampered, truncated, oversized) is ignored without a Redis call.
func wellFormed(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	// The last character carries 4 padding bits that must be zero in a
	// canonical encoding; reject others so one token has one spelling.
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}
