package cache

import (
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/slot"
)

func TestKeys(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"value", valueKey("users", "42"), "rk:c:users:{42}"},
		{"lease", leaseKey("users", "42"), "rk:c:users:{42}:l"},
		{"pending", pendKey("users", "42"), "rk:c:users:{42}:p"},
		{"dirty", dirtyKey("users", "42"), "rk:c:users:{42}:d"},
		{"tag", tagKey("users", "team:7"), "rk:ct:users:{team:7}"},
		{"tag stamp", tagStamp("users", "team:7"), "rk:ct:users:{team:7}:t"},
		{"prefix", trackPrefix("users"), "rk:c:users:"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: (-want +got)\n-%s\n+%s", tt.name, tt.want, tt.got)
		}
	}
}

func TestKeysShareSlot(t *testing.T) {
	for _, k := range []string{"42", "a:b", "with space", "ünï", "x}y"} {
		s := slot.Of(valueKey("ns", k))
		for _, other := range []string{leaseKey("ns", k), pendKey("ns", k), dirtyKey("ns", k)} {
			if slot.Of(other) != s {
				t.Errorf("key %q: %s in slot %d, value in %d", k, other, slot.Of(other), s)
			}
		}
	}
}

func TestTagKeysShareSlot(t *testing.T) {
	for _, tag := range []string{"a", "team:7", "x}y"} {
		if slot.Of(tagKey("ns", tag)) != slot.Of(tagStamp("ns", tag)) {
			t.Errorf("tag %q: set and stamp in different slots", tag)
		}
	}
}

func TestUserKey(t *testing.T) {
	p := trackPrefix("ns")
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{valueKey("ns", "42"), "42", true},
		{leaseKey("ns", "42"), "42", true},
		{valueKey("ns", "a}b"), "a}b", true},
		{pendKey("ns", "42"), "", false},
		{dirtyKey("ns", "42"), "", false},
		{valueKey("other", "42"), "", false},
		{"rk:c:ns:", "", false},
	}
	for _, tt := range tests {
		got, ok := userKey(p, tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("userKey(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCheckNamespace(t *testing.T) {
	for ns, ok := range map[string]bool{"users": true, "a-b_c.d": true, "": false, "a:b": false, "{x}": false} {
		if err := checkNamespace(ns); (err == nil) != ok {
			t.Errorf("checkNamespace(%q) = %v", ns, err)
		}
	}
}

func TestPrefixOf(t *testing.T) {
	kv := keyspace{ns: "products", keyv: true}
	for in, want := range map[string]string{
		valueKey("ns", "a:b"):                    "rk:c:ns:",
		leaseKey("x", "1"):                       "rk:c:x:",
		"rk:c:nocolon":                           "",
		"other:key":                              "",
		kv.value("product:42"):                   "products::products:",
		kv.lease("product:42"):                   "rk:ck:products:",
		"products::other:x":                      "",
		"::x":                                    "",
		"rk::rk:x":                               "rk::rk:",
		keyspace{ns: "rk"}.value("k"):            "rk:c:rk:",
		keyspace{ns: "c", keyv: true}.value("k"): "c::c:",
	} {
		got, ok := prefixOf(in)
		if got != want || ok != (want != "") {
			t.Errorf("prefixOf(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestKeyvKeys(t *testing.T) {
	kv := keyspace{ns: "products", keyv: true}
	if got, want := kv.value("product:42"), "products::products:product:42"; got != want {
		t.Errorf("value = %q, want %q (what Keyv 5 + @keyv/redis 5 write)", got, want)
	}
	for _, k := range []string{"product:42", "a{b}c", "x:l", "{", "}:l", "über"} {
		s := slot.Of(kv.value(k))
		pend, dirty := kv.markers(k)
		for _, other := range []string{kv.lease(k), pend, dirty} {
			if slot.Of(other) != s {
				t.Errorf("key %q: %q is in slot %d, the Keyv key %q in %d", k, other, slot.Of(other), kv.value(k), s)
			}
		}
		for _, rk := range []string{kv.value(k), kv.lease(k)} {
			if got, ok := kv.userKey(rk); !ok || got != k {
				t.Errorf("userKey(%q) = %q, %v; want %q", rk, got, ok, k)
			}
		}
		for _, rk := range []string{pend, dirty} {
			if got, ok := kv.userKey(rk); ok {
				t.Errorf("userKey(%q) = %q, want no key (a write marker)", rk, got)
			}
		}
	}
	set, stamp := kv.tag("team")
	if slot.Of(set) != slot.Of(stamp) || set == tagKey("products", "team") {
		t.Errorf("tag keys %q %q: want one slot, apart from FormatRediskit's", set, stamp)
	}
	if err := kv.checkKey("products:42"); err == nil || !strings.Contains(err.Error(), "Keyv namespace") {
		t.Errorf("checkKey(products:42) = %v; want a refusal naming the Keyv namespace", err)
	}
	if err := kv.checkKey("product:42"); err != nil {
		t.Errorf("checkKey(product:42) = %v", err)
	}
}
