package cache

import (
	"bufio"
	"strings"
	"testing"
)

func FuzzReadGetReply(f *testing.F) {
	f.Add("$3\r\nabc\r\n")
	f.Add("$-1\r\n")
	f.Add("-MOVED 3999 127.0.0.1:6381\r\n")
	f.Add("$5\r\nab")
	f.Fuzz(func(t *testing.T, s string) {
		r := bufio.NewReader(strings.NewReader(s))
		for range 4 {
			if _, _, err := readGetReply(r); err != nil {
				return
			}
		}
	})
}
