// Package slot computes Redis Cluster hash slots (CRC16/XMODEM of the key
// or of its hash tag, mod 16384).
package slot

import "strings"

// Count is the number of hash slots in a Redis Cluster.
const Count = 16384

var table [256]uint16

func init() {
	const poly = 0x1021
	for i := range 256 {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ poly
			} else {
				crc <<= 1
			}
		}
		table[i] = crc
	}
}

// Tag returns the part of key that is hashed: the content of the first
// non-empty {...}, or the whole key.
func Tag(key string) string {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			return key[s+1 : s+1+e]
		}
	}
	return key
}

// Of returns the hash slot of key.
func Of(key string) int {
	t := Tag(key)
	var crc uint16
	for i := 0; i < len(t); i++ {
		crc = crc<<8 ^ table[byte(crc>>8)^t[i]]
	}
	return int(crc % Count)
}
