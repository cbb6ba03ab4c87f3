package lock

import (
	"errors"
	"testing"

	"github.com/rediskit/rediskit/internal/slot"
)

func TestKeysFor(t *testing.T) {
	tests := []struct {
		prefix, name string
		want         keys
		err          error
	}{
		{DefaultPrefix, "orders:42", keys{
			lock:    "rediskit:lock:{orders:42}",
			fence:   "rediskit:lock:{orders:42}:fence",
			channel: "rediskit:lock:{orders:42}:released",
			waiting: "rediskit:lock:{orders:42}:waiting",
			queue:   "rediskit:lock:{orders:42}:queue",
			waiters: "rediskit:lock:{orders:42}:waiters",
		}, nil},
		{"app:", "x", keys{lock: "app:{x}", fence: "app:{x}:fence", channel: "app:{x}:released", waiting: "app:{x}:waiting",
			queue: "app:{x}:queue", waiters: "app:{x}:waiters"}, nil},
		// A prefix with its own tag still keeps every key in one slot.
		{"{app}:", "y", keys{lock: "{app}:{y}", fence: "{app}:{y}:fence", channel: "{app}:{y}:released", waiting: "{app}:{y}:waiting",
			queue: "{app}:{y}:queue", waiters: "{app}:{y}:waiters"}, nil},
		{DefaultPrefix, "", keys{}, ErrInvalidName},
		{DefaultPrefix, "a{b", keys{}, ErrInvalidName},
		{DefaultPrefix, "}a", keys{}, ErrInvalidName},
	}
	for _, tt := range tests {
		got, err := keysFor(tt.prefix, tt.name)
		if !errors.Is(err, tt.err) {
			t.Errorf("keysFor(%q, %q) error = %v, want %v", tt.prefix, tt.name, err, tt.err)
			continue
		}
		if got != tt.want {
			t.Errorf("keysFor(%q, %q) (-want +got):\n- %+v\n+ %+v", tt.prefix, tt.name, tt.want, got)
		}
		if err == nil {
			s := slot.Of(got.lock)
			for _, k := range []string{got.fence, got.channel, got.waiting, got.queue, got.waiters} {
				if slot.Of(k) != s {
					t.Errorf("keysFor(%q, %q): %q in slot %d, lock in %d", tt.prefix, tt.name, k, slot.Of(k), s)
				}
			}
		}
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		in     string
		holder string
		token  int64
	}{
		{"abc:12:host:99", "host:99", 12},
		{"abc:7:", "", 7},
		{"garbage", "garbage", 0},
	}
	for _, tt := range tests {
		h, tok := parseValue(tt.in)
		if h != tt.holder || tok != tt.token {
			t.Errorf("parseValue(%q) = %q, %d; want %q, %d", tt.in, h, tok, tt.holder, tt.token)
		}
	}
}
