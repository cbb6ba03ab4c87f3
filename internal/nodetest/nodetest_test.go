package nodetest_test

import (
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/nodetest"
)

// The pinned versions are the ones the interop docs name.
func TestPinnedVersions(t *testing.T) {
	got := nodetest.Run(t, time.Minute, "testdata/versions.js", nil)
	want := map[string]string{
		"express-session": "1.19.0", "connect-redis": "10.0.0", "redis": "5.9.0",
		"ioredis": "5.11.1", "redlock": "4.2.0", "@sesamecare-oss/redlock": "1.4.0",
		"cache-manager": "7.2.9", "keyv": "5.6.0", "@keyv/redis": "5.1.6", "cookie-signature": "1.2.2",
	}
	if len(got) != 1 {
		t.Fatalf("lines: %v", got)
	}
	for name, v := range want {
		if got[0][name] != v {
			t.Errorf("%s: installed %v, want %s", name, got[0][name], v)
		}
	}
}

func TestStartSendWait(t *testing.T) {
	p := nodetest.Start(t, "testdata/versions.js", nil, "echo")
	if err := p.Send(map[string]any{"n": 7}); err != nil {
		t.Fatal(err)
	}
	m := p.WaitFor(t, 10*time.Second, "echo", func(m map[string]any) bool { return m["echo"] != nil })
	if m["echo"].(map[string]any)["n"] != float64(7) {
		t.Fatalf("echo: %v", m)
	}
	p.Stop()
	if _, err := p.Next(time.Second); err != nil && err != nodetest.ErrExited {
		t.Fatalf("after stop: %v", err)
	}
}
