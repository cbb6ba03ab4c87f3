package migrate

import (
	"fmt"
	"testing"
	"time"
)

func TestDirtySet(t *testing.T) {
	d := newDirtySet(3)
	t0 := time.Unix(100, 0)
	for i, k := range []string{"a", "b", "a", "c"} {
		if !d.add(k, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("add %s: full", k)
		}
	}
	if d.len() != 3 || !d.oldest().Equal(t0) {
		t.Fatalf("len %d oldest %v", d.len(), d.oldest())
	}
	keys, oldest := d.take(2)
	if fmt.Sprint(keys) != "[a b]" || !oldest.Equal(t0) {
		t.Fatalf("take = %v %v", keys, oldest)
	}
	if !d.add("a", t0.Add(9*time.Second)) || !d.add("d", t0) {
		t.Fatal("add after take: full")
	}
	if d.add("e", t0) {
		t.Fatal("add beyond max accepted")
	}
	if d.len() != 0 {
		t.Fatalf("overflow did not clear: %d", d.len())
	}
	big := newDirtySet(10000)
	for i := range 5000 {
		big.add(fmt.Sprint(i), t0.Add(time.Duration(i)))
		if i%3 == 0 {
			big.take(1)
		}
	}
	keys, _ = big.take(1)
	if want := fmt.Sprint(1667); keys[0] != want || big.len() != 5000-1667-1 {
		t.Fatalf("after compaction: next %v, len %d", keys, big.len())
	}
}
