package session

import (
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/slot"
)

func TestKeys(t *testing.T) {
	k := keys{prefix: "app:s:"}
	id := storageID(newToken())
	tests := []struct {
		name, got, want, tag string
	}{
		{"session", k.session(id), "app:s:{" + id + "}", id},
		{"user", k.user("42"), "app:s:user:{42}", "42"},
		{"user with braces", k.user("a}b"), "app:s:user:{a}b}", "a"},
		{"active", k.active(7), "app:s:{active}:7", "active"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: key (-want +got):\n-%s\n+%s", tt.name, tt.want, tt.got)
		}
		if tag := slot.Tag(tt.got); tag != tt.tag {
			t.Errorf("%s: hash tag = %q, want %q", tt.name, tag, tt.tag)
		}
	}
	if slot.Of(k.active(1)) != slot.Of(k.active(2)) {
		t.Error("active buckets are in different slots: PFCOUNT of two would fail on a cluster")
	}
	for _, p := range []string{"a{b", "a}b"} {
		if _, err := New(nil, Options{Prefix: p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
}

func TestToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := newToken()
		if !wellFormed(tok) || seen[tok] {
			t.Fatalf("token %q: well formed %v, repeated %v", tok, wellFormed(tok), seen[tok])
		}
		seen[tok] = true
		if id := storageID(tok); id == tok || len(id) != tokenLen || strings.Contains(id, "{") {
			t.Fatalf("storage id %q", id)
		}
	}
}

// FuzzWellFormed: whatever a client sends, wellFormed never panics and
// accepts only canonical 43-character base64url strings.
func FuzzWellFormed(f *testing.F) {
	f.Add(newToken())
	f.Add("")
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("A", 42) + "B")
	f.Fuzz(func(t *testing.T, s string) {
		if !wellFormed(s) {
			return
		}
		if len(s) != tokenLen {
			t.Fatalf("accepted length %d", len(s))
		}
		for _, c := range s {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", c) {
				t.Fatalf("accepted %q", c)
			}
		}
	})
}
