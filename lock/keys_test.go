package lock

import (
	"errors"
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/slot"
)

func TestKeysFor(t *testing.T) {
	tests := []struct {
		prefix, name string
		layout       KeyLayout
		want         keys
		err          error
	}{
		{DefaultPrefix, "orders:42", TaggedKeys, keys{
			lock:    "rediskit:lock:{orders:42}",
			fence:   "rediskit:lock:{orders:42}:fence",
			channel: "rediskit:lock:{orders:42}:released",
			waiting: "rediskit:lock:{orders:42}:waiting",
			queue:   "rediskit:lock:{orders:42}:queue",
			waiters: "rediskit:lock:{orders:42}:waiters",
		}, nil},
		{"app:", "x", TaggedKeys, keys{lock: "app:{x}", fence: "app:{x}:fence", channel: "app:{x}:released", waiting: "app:{x}:waiting",
			queue: "app:{x}:queue", waiters: "app:{x}:waiters"}, nil},
		// A prefix with its own tag still keeps every key in one slot.
		{"{app}:", "y", TaggedKeys, keys{lock: "{app}:{y}", fence: "{app}:{y}:fence", channel: "{app}:{y}:released", waiting: "{app}:{y}:waiting",
			queue: "{app}:{y}:queue", waiters: "{app}:{y}:waiters"}, nil},
		{DefaultPrefix, "", TaggedKeys, keys{}, ErrInvalidName},
		{DefaultPrefix, "a{b", TaggedKeys, keys{}, ErrInvalidName},
		{DefaultPrefix, "}a", TaggedKeys, keys{}, ErrInvalidName},
		// PlainKeys: the resource itself, the others in its slot.
		{DefaultPrefix, "payment:42", PlainKeys, keys{
			lock:    "payment:42",
			fence:   "rediskit:lock:{payment:42}:fence",
			channel: "rediskit:lock:{payment:42}:released",
			waiting: "rediskit:lock:{payment:42}:waiting",
			queue:   "rediskit:lock:{payment:42}:queue",
			waiters: "rediskit:lock:{payment:42}:waiters",
		}, nil},
		{"p:", "locks:{order:7}", PlainKeys, keys{lock: "locks:{order:7}", fence: "p:locks:{order:7}:fence",
			channel: "p:locks:{order:7}:released", waiting: "p:locks:{order:7}:waiting",
			queue: "p:locks:{order:7}:queue", waiters: "p:locks:{order:7}:waiters"}, nil},
		// '{' without a closing brace, and an empty tag: the whole
		// resource is hashed.
		{"p:", "a{b", PlainKeys, keys{lock: "a{b", fence: "p:{a{b}:fence", channel: "p:{a{b}:released",
			waiting: "p:{a{b}:waiting", queue: "p:{a{b}:queue", waiters: "p:{a{b}:waiters"}, nil},
		{"p:", "a{}b", PlainKeys, keys{}, ErrInvalidName},
		{"p:", "}a", PlainKeys, keys{}, ErrInvalidName},
		{"{p}:", "x", PlainKeys, keys{}, ErrInvalidName},
		{"p:", "", PlainKeys, keys{}, ErrInvalidName},
	}
	for _, tt := range tests {
		got, err := keysFor(tt.prefix, tt.name, tt.layout)
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
		ours   bool
	}{
		{"abc:12:host:99", "host:99", 12, true},
		{"abc:7:", "", 7, true},
		{"garbage", foreignValue, 0, false},
		// node-redlock 4 and @sesamecare-oss/redlock: 16 random bytes, hex.
		{"3f1c9e0a6b2d4c8e9f00112233445566", foreignValue, 0, false},
		{"a:b:c", foreignValue, 0, false},
		{":5:h", foreignValue, 0, false},
		{"a:0:h", foreignValue, 0, false},
		{"a:-3:h", foreignValue, 0, false},
		{"", foreignValue, 0, false},
	}
	for _, tt := range tests {
		h, tok, ours := parseValue(tt.in)
		if h != tt.holder || tok != tt.token || ours != tt.ours {
			t.Errorf("parseValue(%q) = %q, %d, %v; want %q, %d, %v", tt.in, h, tok, ours, tt.holder, tt.token, tt.ours)
		}
	}
}

// FuzzParseValue: a value parses as rediskit's only when it is
// "<owner>:<token>:<holder>" with a positive token, and a foreign value is
// never quoted back.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"abc:12:host:99", "3f1c9e0a6b2d4c8e9f00112233445566", "a:0:h", ":1:", "x:+7:h", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		holder, token, ours := parseValue(v)
		if !ours {
			if holder != foreignValue || token != 0 {
				t.Fatalf("parseValue(%q) = %q, %d, foreign: want the fixed description and token 0", v, holder, token)
			}
			return
		}
		if token <= 0 || !strings.HasSuffix(v, ":"+holder) || strings.HasPrefix(v, ":") {
			t.Fatalf("parseValue(%q) = %q, %d, ours", v, holder, token)
		}
	})
}
