package queue

import (
	"errors"
	"testing"

	"github.com/rediskit/rediskit/internal/slot"
)

func TestKeys(t *testing.T) {
	k := newKeys("bull", "emails")
	for _, c := range []struct{ got, want string }{
		{k.wait, "bull:emails:wait"},
		{k.active, "bull:emails:active"},
		{k.prioritized, "bull:emails:prioritized"},
		{k.pc, "bull:emails:pc"},
		{k.delayed, "bull:emails:delayed"},
		{k.completed, "bull:emails:completed"},
		{k.failed, "bull:emails:failed"},
		{k.stalled, "bull:emails:stalled"},
		{k.stalledCheck, "bull:emails:stalled-check"},
		{k.id, "bull:emails:id"},
		{k.marker, "bull:emails:marker"},
		{k.meta, "bull:emails:meta"},
		{k.events, "bull:emails:events"},
		{k.limiter, "bull:emails:limiter"},
		{k.repeat, "bull:emails:repeat"},
		{k.job("42"), "bull:emails:42"},
		{k.lock("42"), "bull:emails:42:lock"},
		{k.logs("42"), "bull:emails:42:logs"},
	} {
		if c.got != c.want {
			t.Errorf("key = %q, want %q", c.got, c.want)
		}
	}
}

func TestCheckSlot(t *testing.T) {
	for _, c := range []struct {
		prefix, name string
		ok           bool
	}{
		{"{bull}", "q", true},
		{"bull", "{payments}", true},
		{"app:{x}", "q", true},
		{"bull", "q", false},
		{"{}", "q", false},
		{"{bull", "q}", true}, // tag "bull:q" closes inside the base
		{"{bull", "q", false},
		{"bull", "q{", false},
	} {
		err := checkSlot(c.prefix, c.name)
		if (err == nil) != c.ok {
			t.Errorf("checkSlot(%q, %q) = %v, want ok=%v", c.prefix, c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrCrossSlot) {
			t.Errorf("error %v does not wrap ErrCrossSlot", err)
		}
		if c.ok {
			k := newKeys(c.prefix, c.name)
			s := slot.Of(k.wait)
			for _, key := range []string{k.meta, k.events, k.job("1"), k.lock("abc}{x"), k.marker} {
				if slot.Of(key) != s {
					t.Errorf("%q and %q in different slots", k.wait, key)
				}
			}
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, n := range []string{"", "a:b"} {
		if err := checkName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("checkName(%q) = %v", n, err)
		}
	}
	if err := checkName("ok-name"); err != nil {
		t.Error(err)
	}
}
