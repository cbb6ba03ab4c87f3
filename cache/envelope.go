package cache

import (
	"encoding/binary"
	"fmt"
)

// The value stored in Redis is an envelope followed by the codec's bytes:
//
//	byte 0      format version (1)
//	byte 1      flags: bit 0 = negative entry ("not found")
//	bytes 2-9   logical expiry, Unix milliseconds, big endian
//	bytes 10-13 load time (XFetch delta), milliseconds, big endian
//	bytes 14-   payload
//
// The Redis TTL is the logical expiry plus the stale-while-revalidate
// window, so a reader can tell fresh from stale.
const (
	envVersion = 1
	envHeader  = 14
	flagNeg    = 1
)

var errCorrupt = fmt.Errorf("%w: corrupt rediskit envelope", ErrUnreadable)

type envelope struct {
	neg      bool
	expiryMS int64
	deltaMS  uint32
	payload  []byte
}

func encodeEnvelope(e envelope) []byte {
	b := make([]byte, envHeader+len(e.payload))
	b[0] = envVersion
	if e.neg {
		b[1] = flagNeg
	}
	binary.BigEndian.PutUint64(b[2:10], uint64(e.expiryMS))
	binary.BigEndian.PutUint32(b[10:14], e.deltaMS)
	copy(b[envHeader:], e.payload)
	return b
}

// decodeEnvelope parses b; it never panics and reports errCorrupt for
// anything it does not understand. payload aliases b.
func decodeEnvelope(b []byte) (envelope, error) {
	if len(b) < envHeader || b[0] != envVersion || b[1]&^flagNeg != 0 {
		return envelope{}, errCorrupt
	}
	e := envelope{
		neg:      b[1]&flagNeg != 0,
		expiryMS: int64(binary.BigEndian.Uint64(b[2:10])),
		deltaMS:  binary.BigEndian.Uint32(b[10:14]),
		payload:  b[envHeader:],
	}
	if e.expiryMS < 0 || (e.neg && len(e.payload) != 0) {
		return envelope{}, errCorrupt
	}
	return e, nil
}
