package dashboard

import "testing"

func TestKeys(t *testing.T) {
	q := queueRef{Prefix: "{bull}", Name: "payments"}
	for _, c := range []struct{ got, want string }{
		{q.ID(), "{bull}:payments"},
		{q.key(sufMeta), "{bull}:payments:meta"},
		{q.job("42"), "{bull}:payments:42"},
		{q.jobLock("42"), "{bull}:payments:42:lock"},
		{q.scheduler("s1"), "{bull}:payments:repeat:s1"},
		{q.stateKey("waiting"), "{bull}:payments:wait"},
		{q.stateKey("waiting-children"), "{bull}:payments:waiting-children"},
		{q.stateKey("nope"), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for _, c := range []struct {
		key  string
		want queueRef
		ok   bool
	}{
		{"bull:payments:meta", queueRef{"bull", "payments"}, true},
		{"my:app:{q}:meta", queueRef{"my:app", "{q}"}, true},
		{"bull:payments:wait", queueRef{}, false},
		{":meta", queueRef{}, false},
		{"x:meta", queueRef{}, false},
	} {
		got, ok := queueFromMeta(c.key)
		if ok != c.ok || got != c.want {
			t.Errorf("queueFromMeta(%q) = %+v, %v; want %+v, %v", c.key, got, ok, c.want, c.ok)
		}
	}
	if _, err := parseQueueID("nocolon"); err == nil {
		t.Error("parseQueueID(nocolon): no error")
	}
}
