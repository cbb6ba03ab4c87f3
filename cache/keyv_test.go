package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// nodeEntry is what Keyv 5.6 + @keyv/redis 5.1 stored (observed with
// GET) for cache.set('product:42', {id: 42, name: ':colon', b: '::x',
// arr: [':a', 'b'], ':k': 1, d: '2026-01-01T00:00:00.000Z'}, 60000).
const nodeEntry = `{"value":{"id":42,"name":"::colon","b":":::x","arr":["::a","b"],":k":1,"d":"2026-01-01T00:00:00.000Z"},"expires":1795973738371}`

type nodeValue struct {
	ID   int      `json:"id"`
	Name string   `json:"name"`
	B    string   `json:"b"`
	Arr  []string `json:"arr"`
	K    int      `json:":k"`
	D    string   `json:"d"`
}

func TestKeyvDecodeNodeEntry(t *testing.T) {
	e, err := decodeKeyv([]byte(nodeEntry), 1795973738371)
	if err != nil {
		t.Fatal(err)
	}
	if e.expiryMS != 1795973738371 {
		t.Errorf("expiry = %d, want 1795973738371", e.expiryMS)
	}
	var v nodeValue
	if err := json.Unmarshal(e.payload, &v); err != nil {
		t.Fatal(err)
	}
	want := nodeValue{ID: 42, Name: ":colon", B: "::x", Arr: []string{":a", "b"}, K: 1, D: "2026-01-01T00:00:00.000Z"}
	if v.Name != want.Name || v.B != want.B || v.Arr[0] != want.Arr[0] || v.K != 1 || v.D != want.D {
		t.Errorf("decoded (-want +got)\n-%+v\n+%+v", want, v)
	}
	// Go writes the same bytes back (field order of the struct = Node's).
	b, _ := json.Marshal(v)
	raw, err := encodeKeyv(envelope{expiryMS: 1795973738371, payload: b})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != nodeEntry {
		t.Errorf("encode (-want +got)\n-%s\n+%s", nodeEntry, raw)
	}
}

func TestKeyvMisses(t *testing.T) {
	for _, in := range []string{
		`{"value":1,"expires":999}`, // expired: Keyv's Date.now() > expires
		`{"expires":5000}`,          // cache.set(k, undefined)
		`{"value":null}`,            // cache.set(k, null)
		`{}`,
	} {
		if _, err := decodeKeyv([]byte(in), 1000); !errors.Is(err, errKeyvMiss) {
			t.Errorf("decodeKeyv(%s) = %v; want a miss", in, err)
		}
	}
	e, err := decodeKeyv([]byte(`{"value":"x","expires":1000}`), 1000)
	if err != nil || e.expiryMS != 1000 {
		t.Errorf("expires == now: %+v, %v; want a hit (Keyv expires only after)", e, err)
	}
	e, err = decodeKeyv([]byte(`{"value":"x"}`), 1000)
	if err != nil || e.expiryMS != noExpiry {
		t.Errorf("no expires: %+v, %v; want a hit that never expires", e, err)
	}
}

func TestKeyvUnreadable(t *testing.T) {
	for in, names := range map[string]string{
		`{"value":":base64:AAEC"}`:                  "Node Buffer",
		`{"value":{"b":[":base64:AAEC"]}}`:          "Node Buffer",
		`{"value":1,"expires":5000,"compressed":1}`: `"compressed"`,
		`{"value":1,"expires":"soon"}`:              `"expires" is not a number`,
		"\x1f\x8b\x08\x00gzip":                      "not a JSON object",
		`[1,2]`:                                     "not a JSON object",
		`plain`:                                     "not a JSON object",
	} {
		_, err := decodeKeyv([]byte(in), 1000)
		if !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), names) {
			t.Errorf("decodeKeyv(%q) = %v; want ErrUnreadable naming %s", in, err, names)
		}
	}
}

func TestKeyvStrings(t *testing.T) {
	for _, tt := range []struct{ in, escaped string }{
		{`"plain"`, `"plain"`},
		{`":x"`, `"::x"`},
		{`{":k":":v"}`, `{":k":"::v"}`},
		{`{"a" : ":v", "b":[":c", 1, {":d" :":e"}]}`, `{"a" : "::v", "b":["::c", 1, {":d" :"::e"}]}`},
		{`":base64:AA"`, `"::base64:AA"`},
		{`"with \" quote:"`, `"with \" quote:"`},
		{`"\u003ax"`, `"::x"`},
	} {
		got, err := keyvStrings([]byte(tt.in), true)
		if err != nil || string(got) != tt.escaped {
			t.Errorf("escape(%s) = %s, %v; want %s", tt.in, got, err, tt.escaped)
		}
		back, err := keyvStrings(got, false)
		var a, b any
		_ = json.Unmarshal(back, &a)
		_ = json.Unmarshal([]byte(tt.in), &b)
		if err != nil || !jsonEqual(a, b) {
			t.Errorf("unescape(%s) = %s, %v; want %s", got, back, err, tt.in)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func FuzzKeyvEnvelope(f *testing.F) {
	f.Add([]byte(nodeEntry))
	f.Add([]byte(`{"value":":base64:AAEC"}`))
	f.Add([]byte(`{"value":"\u003a:x","expires":1e300}`))
	f.Add([]byte(`{"value":1,"value":2}`))
	f.Add([]byte(`{"value":{"a":1,"expires":5}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeKeyv(b, 1000)
		// The fast path agrees with the full parse.
		se, serr := decodeKeyvSlow(b, 1000)
		if (err == nil) != (serr == nil) || errors.Is(err, errKeyvMiss) != errors.Is(serr, errKeyvMiss) ||
			(err == nil && (!bytes.Equal(e.payload, se.payload) || e.expiryMS != se.expiryMS)) {
			t.Fatalf("%q: fast path %+v, %v; full parse %+v, %v", b, e, err, se, serr)
		}
		if err != nil {
			return
		}
		// What Go read, Go writes so that it reads the same again.
		raw, err := encodeKeyv(e)
		if err != nil {
			t.Fatalf("encode of a decoded entry: %v", err)
		}
		e2, err := decodeKeyv(raw, 1000)
		if err != nil {
			t.Fatalf("decode(%s) after encode: %v", raw, err)
		}
		var v1, v2 any
		if json.Unmarshal(e.payload, &v1) != nil || json.Unmarshal(e2.payload, &v2) != nil || !jsonEqual(v1, v2) || e.expiryMS != e2.expiryMS {
			t.Fatalf("round trip changed %s into %s", e.payload, e2.payload)
		}
	})
}
