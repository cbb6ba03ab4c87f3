package cache

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadValue(t *testing.T) {
	in := ">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n" +
		">2\r\n$10\r\ninvalidate\r\n_\r\n" +
		"%1\r\n+server\r\n+redis\r\n" +
		"-ERR boom\r\n:42\r\n"
	r := bufio.NewReader(strings.NewReader(in))
	v, err := readValue(r)
	p, ok := v.(respPush)
	if err != nil || !ok || len(p) != 2 || p[0] != "invalidate" {
		t.Fatalf("push = %#v, %v", v, err)
	}
	if ks := p[1].([]any); len(ks) != 2 || ks[0] != "a" || ks[1] != "b" {
		t.Fatalf("keys = %#v", p[1])
	}
	v, err = readValue(r)
	if p, ok := v.(respPush); err != nil || !ok || p[1] != nil {
		t.Fatalf("flush push = %#v, %v", v, err)
	}
	v, err = readValue(r)
	if m, ok := v.([]any); err != nil || !ok || len(m) != 2 || m[1] != "redis" {
		t.Fatalf("map = %#v, %v", v, err)
	}
	if v, _ := readValue(r); v != respError("ERR boom") {
		t.Fatalf("error = %#v", v)
	}
	if v, _ := readValue(r); v != int64(42) {
		t.Fatalf("int = %#v", v)
	}
}

func FuzzReadValue(f *testing.F) {
	f.Add("*2\r\n$1\r\na\r\n:1\r\n")
	f.Add(">2\r\n$10\r\ninvalidate\r\n_\r\n")
	f.Add("$-1\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := bufio.NewReader(strings.NewReader(s))
		for range 8 {
			if _, err := readValue(r); err != nil {
				return
			}
		}
	})
}

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
