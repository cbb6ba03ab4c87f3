package nodeconn

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
	v, err := ReadValue(r)
	p, ok := v.(Push)
	if err != nil || !ok || len(p) != 2 || p[0] != "invalidate" {
		t.Fatalf("push = %#v, %v", v, err)
	}
	if ks := p[1].([]any); len(ks) != 2 || ks[0] != "a" || ks[1] != "b" {
		t.Fatalf("keys = %#v", p[1])
	}
	v, err = ReadValue(r)
	if p, ok := v.(Push); err != nil || !ok || p[1] != nil {
		t.Fatalf("flush push = %#v, %v", v, err)
	}
	v, err = ReadValue(r)
	if m, ok := v.([]any); err != nil || !ok || len(m) != 2 || m[1] != "redis" {
		t.Fatalf("map = %#v, %v", v, err)
	}
	if v, _ := ReadValue(r); v != RespError("ERR boom") {
		t.Fatalf("error = %#v", v)
	}
	if v, _ := ReadValue(r); v != int64(42) {
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
			if _, err := ReadValue(r); err != nil {
				return
			}
		}
	})
}
