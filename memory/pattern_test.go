package memory

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFold(t *testing.T) {
	tests := []struct{ key, want string }{
		{"user:1042:profile", "user:*:profile"},
		{"user:1042", "user:*"},
		{"{user:9f8e7d6c5b4a}:cart", "{user:*}:cart"},
		{"session:3f2504e0-4f89-11d3-9a0c-0305e82c3301", "session:*"},
		{"cache/v2/items/77", "cache/v2/items/*"},
		{"job-42:status", "job-*:status"},
		{"order_2026_11_25", "order_*_*_*"},
		{"img:sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "img:sha1:*"},
		{"tok:Zm9vYmFyYmF6cXV4MTIzNA", "tok:*"},
		{"ip:10.0.0.1", "ip:*.*.*.*"},
		{"plain", "plain"},
		{"deadbeef", "deadbeef"}, // hex without a digit is a word
		{"cafe1234", "*"},
		{"counters:page_views", "counters:page_views"},
		{"v2", "v2"},
		{"", ""},
		{"a\xffb:1", "a?b:*"},
		{"users:{users:17}", "users:{users:*}"},
		{strings.Repeat("abc:", 40) + "1", strings.Repeat("abc:", 29) + "*"},
	}
	for _, tt := range tests {
		if got := Fold(tt.key); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"user:1042:profile", "{a:1}:b", "x-1_2", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", strings.Repeat("ab12:", 40), "\xff\xfe", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p := Fold(key)
		if !utf8.ValidString(p) {
			t.Fatalf("Fold(%q) = %q: not valid UTF-8", key, p)
		}
		if len(p) > maxPatternLen {
			t.Fatalf("Fold(%q) = %q: %d bytes, cap %d", key, p, len(p), maxPatternLen)
		}
		if q := Fold(p); q != p {
			t.Fatalf("not idempotent: Fold(%q) = %q, Fold of that = %q", key, p, q)
		}
		// Delimiters survive folding untouched (before the cut).
		if len(key) <= 60 && utf8.ValidString(key) {
			var kd, pd []byte
			for i := 0; i < len(key); i++ {
				if isDelim(key[i]) {
					kd = append(kd, key[i])
				}
			}
			for i := 0; i < len(p); i++ {
				if isDelim(p[i]) {
					pd = append(pd, p[i])
				}
			}
			if string(kd) != string(pd) {
				t.Fatalf("Fold(%q) = %q: delimiters %q became %q", key, p, kd, pd)
			}
		}
	})
}
