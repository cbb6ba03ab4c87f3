package memory

import (
	"testing"

	"github.com/rediskit/rediskit/internal/slot"
)

func TestKeys(t *testing.T) {
	tests := []struct{ got, want string }{
		{bucketKey("users", 0), "users:{users:0}"},
		{bucketKey("users", 17), "users:{users:17}"},
		{bucketKey("a:b", 3), "a:b:{a:b:3}"},
		{metaKey("users"), "users:{users}:meta"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// The tag includes the namespace: the same bucket number of two
	// namespaces lands on different slots.
	if slot.Of(bucketKey("users", 17)) == slot.Of(bucketKey("posts", 17)) {
		t.Errorf("users and posts bucket 17 share a slot")
	}
}

// TestBucketSpread checks that 3000 buckets spread evenly over the slot
// ranges of three masters.
func TestBucketSpread(t *testing.T) {
	const n = 3000
	var per [3]int
	for i := range n {
		per[slot.Of(bucketKey("users", i))*3/slot.Count]++
	}
	for m, c := range per {
		if c < n/3*85/100 || c > n/3*115/100 {
			t.Errorf("master %d holds %d of %d buckets (%v), want within 15%% of %d", m, c, n, per, n/3)
		}
	}
}
