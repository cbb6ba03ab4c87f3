package migrate

import (
	"testing"

	"github.com/rediskit/rediskit/internal/slot"
)

func TestKeyBuilders(t *testing.T) {
	for _, k := range []string{"a", "user:1", "{orders}:42", "x{}y", "{", "bull:{q}:1", ""} {
		tk := tempKey(k, 7)
		if slot.Of(tk) != slot.Of(k) {
			t.Errorf("tempKey(%q) = %q: slot %d, want %d", k, tk, slot.Of(tk), slot.Of(k))
		}
		if !reserved(tk) {
			t.Errorf("tempKey(%q) = %q is not reserved", k, tk)
		}
	}
	for s := range slot.Count {
		if hk := heartbeatKey(s); slot.Of(hk) != s || !reserved(hk) {
			t.Fatalf("heartbeatKey(%d) = %q: slot %d", s, hk, slot.Of(hk))
		}
	}
	if !reserved(stateKey) || reserved("rediskit-migrate") || reserved("user:{rediskit-migrate}") {
		t.Error("reserved prefix misclassifies")
	}
}
