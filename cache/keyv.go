package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The Keyv envelope (FormatKeyv), as Keyv 5 writes it through its default
// serializer (@keyv/serialize) and @keyv/redis 5 stores it with SET (PX
// when it has a TTL):
//
//	{"value":<the value as JSON>,"expires":<Unix ms>}
//
// "expires" is absent when the entry has no TTL. Keyv reads an entry as a
// miss when Date.now() > expires (and then deletes it), or when "value" is
// absent or null. Its serializer changes strings (not object keys) at any
// depth of the value: a string that starts with ':' gets one more ':' in
// front, and a Node Buffer is stored as the string ":base64:<base64>";
// reading removes the added ':' and turns ":base64:" strings back into
// Buffers. BigInt cannot be stored (Node's JSON.stringify throws); a Date
// is stored as its ISO string; Map and Set become {}.
//
// Go reads and writes exactly that: encodeKeyv adds the ':' to string
// values that start with one, decodeKeyv removes it. What Go cannot
// represent is refused with an error wrapping ErrUnreadable that names it:
// a Buffer, a field other than "value" and "expires" (another
// serializer, or compression that wraps the envelope), bytes that are not
// a JSON object, an "expires" that is not a number.

// noExpiry is the expiry of a Keyv entry without "expires" (Unix ms, year
// 2262): far in the future, and still a valid time.Duration in ns.
const noExpiry = math.MaxInt64 / 1_000_000

// errKeyvMiss is a Keyv entry that Keyv itself reads as a miss (expired,
// or no value): a Get loads and may store over it.
var errKeyvMiss = errors.New("cache: Keyv entry is expired or has no value")

func unreadable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnreadable, fmt.Sprintf(format, args...))
}

// decodeKeyv parses a Keyv entry read at nowMS. payload is the value's
// JSON with Keyv's string escaping undone. It never panics.
func decodeKeyv(b []byte, nowMS int64) (envelope, error) {
	if value, expires, ok := splitKeyv(b); ok {
		return keyvEntry(value, expires, nowMS)
	}
	return decodeKeyvSlow(b, nowMS)
}

// splitKeyv is the fast path for entries laid out as Keyv writes them,
// {"value":V} or {"value":V,"expires":N}, with V and N valid JSON: then
// they are exactly the entry's fields (a valid JSON value's end is
// known from its start). Anything else goes to decodeKeyvSlow.
func splitKeyv(b []byte) (value, expires []byte, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"value":`))
	if !ok || len(rest) < 2 || rest[len(rest)-1] != '}' {
		return nil, nil, false
	}
	rest = rest[:len(rest)-1]
	i := len(rest)
	for i > 0 && strings.IndexByte("0123456789.eE+-", rest[i-1]) >= 0 {
		i--
	}
	if v, ok := bytes.CutSuffix(rest[:i], []byte(`,"expires":`)); ok && i < len(rest) {
		value, expires = v, rest[i:]
	} else {
		value = rest
	}
	if !json.Valid(value) || (expires != nil && !json.Valid(expires)) {
		return nil, nil, false
	}
	return value, expires, true
}

// decodeKeyvSlow parses any JSON object, and names what it cannot read.
func decodeKeyvSlow(b []byte, nowMS int64) (envelope, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return envelope{}, unreadable("Keyv entry is not a JSON object (another serializer, or compressed?): %v", err)
	}
	for k := range m {
		if k != "value" && k != "expires" {
			return envelope{}, unreadable("Keyv entry has the field %q (only \"value\" and \"expires\" are understood: another serializer or compression?)", k)
		}
	}
	return keyvEntry(m["value"], m["expires"], nowMS)
}

// keyvEntry builds the envelope of the raw fields (nil: absent).
func keyvEntry(value, expires []byte, nowMS int64) (envelope, error) {
	e := envelope{expiryMS: noExpiry}
	if expires != nil && string(expires) != "null" {
		var f float64
		if err := json.Unmarshal(expires, &f); err != nil {
			return envelope{}, unreadable("Keyv entry's \"expires\" is not a number: %s", truncate(expires))
		}
		if float64(nowMS) > f {
			return envelope{}, errKeyvMiss
		}
		if f < float64(noExpiry) {
			e.expiryMS = int64(math.Floor(f))
		}
	}
	if value == nil || string(value) == "null" {
		return envelope{}, errKeyvMiss
	}
	p, err := keyvStrings(value, false)
	if err != nil {
		return envelope{}, err
	}
	e.payload = p
	return e, nil
}

// encodeKeyv returns the Keyv entry of e. e.payload must be JSON (the
// codec's output); its strings get Keyv's escaping.
func encodeKeyv(e envelope) ([]byte, error) {
	if !json.Valid(e.payload) {
		return nil, errors.New("cache: FormatKeyv needs a codec that writes JSON")
	}
	p, err := keyvStrings(e.payload, true)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(p)+40)
	out = append(out, `{"value":`...)
	out = append(out, p...)
	if e.expiryMS != noExpiry {
		out = append(out, `,"expires":`...)
		out = strconv.AppendInt(out, e.expiryMS, 10)
	}
	return append(out, '}'), nil
}

// keyvStrings applies Keyv's string escaping to the valid JSON b (escape:
// a string value starting with ':' gets one more) or undoes it (a string
// value starting with ':' loses one; ":base64:" is a Buffer: refused). Object
// keys are left alone, as Keyv does. It returns b itself when nothing
// changes.
func keyvStrings(b []byte, escape bool) ([]byte, error) {
	var out []byte
	last := 0
	for i := 0; i < len(b); {
		if b[i] != '"' {
			i++
			continue
		}
		end := stringEnd(b, i)
		j := end
		for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
			j++
		}
		if (j < len(b) && b[j] == ':') || !colonFirst(b[i+1:end]) {
			i = end // an object key, or a string that needs nothing
			continue
		}
		var s string
		if err := json.Unmarshal(b[i:end], &s); err != nil {
			return nil, unreadable("Keyv value: %v", err)
		}
		if escape {
			s = ":" + s
		} else {
			if strings.HasPrefix(s, ":base64:") {
				return nil, unreadable("Keyv value holds a Node Buffer (a %q string), which Go does not read", ":base64:")
			}
			s = s[1:]
		}
		enc, _ := json.Marshal(s)
		out = append(append(out, b[last:i]...), enc...)
		last, i = end, end
	}
	if out == nil {
		return b, nil
	}
	return append(out, b[last:]...), nil
}

// stringEnd returns the index after the closing quote of the JSON string
// that opens at b[i] (len(b) if it is not closed).
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// colonFirst reports whether the raw JSON string content s decodes to a
// string that starts with ':' (written as ':' or as \u003a).
func colonFirst(s []byte) bool {
	if len(s) > 0 && s[0] == ':' {
		return true
	}
	return len(s) >= 6 && bytes.EqualFold(s[:6], []byte(`\u003a`))
}

func truncate(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
