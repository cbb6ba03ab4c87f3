package cache

import (
	"bytes"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []envelope{
		{expiryMS: 1700000000123, deltaMS: 42, payload: []byte(`{"a":1}`)},
		{neg: true, expiryMS: 5},
		{payload: []byte{}},
	} {
		got, err := decodeEnvelope(encodeEnvelope(e))
		if err != nil {
			t.Fatalf("decode(%+v): %v", e, err)
		}
		if got.neg != e.neg || got.expiryMS != e.expiryMS || got.deltaMS != e.deltaMS || !bytes.Equal(got.payload, e.payload) {
			t.Errorf("round trip: (-want +got)\n-%+v\n+%+v", e, got)
		}
	}
}

func TestEnvelopeCorrupt(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("plain string"), {1, 0}, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := decodeEnvelope(b); err == nil {
			t.Errorf("decodeEnvelope(%q) accepted", b)
		}
	}
}

func FuzzEnvelope(f *testing.F) {
	f.Add(encodeEnvelope(envelope{expiryMS: 99, deltaMS: 3, payload: []byte("x")}))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeEnvelope(e), b) {
			t.Fatalf("re-encode differs for %q", b)
		}
	})
}
