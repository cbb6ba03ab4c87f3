package slot

import "testing"

func TestOf(t *testing.T) {
	// Reference values from CLUSTER KEYSLOT on Redis 7.0.
	cases := []struct {
		key  string
		want int
	}{
		{"", 0},
		{"foo", 12182},
		{"bar", 5061},
		{"123456789", 12739},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363},
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"bull:{payments}:wait", 8507},
	}
	for _, c := range cases {
		if got := Of(c.key); got != c.want {
			t.Errorf("Of(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}

func FuzzOf(f *testing.F) {
	f.Add("a{b}c")
	f.Fuzz(func(t *testing.T, key string) {
		s := Of(key)
		if s < 0 || s >= Count {
			t.Fatalf("slot %d out of range", s)
		}
		if Of("x{"+Tag(key)+"}y") != s && Tag(key) != "" {
			t.Fatalf("tag not honoured for %q", key)
		}
	})
}

func TestTagFor(t *testing.T) {
	for s := range Count {
		tag := TagFor(s)
		if tag == "" || Of("x{"+tag+"}y") != s {
			t.Fatalf("TagFor(%d) = %q, hashes to %d", s, tag, Of("x{"+tag+"}y"))
		}
	}
}
