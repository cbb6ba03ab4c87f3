package slot

import (
	"strconv"
	"sync"
)

var (
	tagsOnce sync.Once
	tags     [Count]string
)

// TagFor returns a short string whose hash slot is s (0 <= s < Count), to
// be used as the hash tag "{" + TagFor(s) + "}" of a key that must live in
// the same slot as another key that has no tag of its own (a key written
// by another program). The table is built on first use (the base-36
// numbers from 0 until every slot has one: about 90,000 CRC16 of 1-4
// bytes, a millisecond) and is the same in every process.
func TagFor(s int) string {
	tagsOnce.Do(func() {
		left := Count
		for n := int64(0); left > 0; n++ {
			t := strconv.FormatInt(n, 36)
			if i := Of(t); tags[i] == "" {
				tags[i] = t
				left--
			}
		}
	})
	return tags[s]
}
