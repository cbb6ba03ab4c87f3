package nestjs

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/payments"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// errClass names the outcome of a Go payment for counting.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, payments.ErrAlreadyPaid):
		return "paid"
	default:
		return err.Error()
	}
}

// countKeys counts the keys matching pattern on every master.
func countKeys(ctx context.Context, c *redis.ClusterClient, pattern string) (int, error) {
	n := 0
	total := make(chan int, 16)
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		k := 0
		it := m.Scan(ctx, 0, pattern, 100).Iterator()
		for it.Next(ctx) {
			k++
		}
		total <- k
		return it.Err()
	})
	close(total)
	for k := range total {
		n += k
	}
	return n, err
}

// sessionID returns the session id in the client's signed connect.sid
// cookie ("s:<id>.<signature>").
func sessionID(t *testing.T, c *client) string {
	t.Helper()
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name != "connect.sid" {
			continue
		}
		v, err := url.QueryUnescape(ck.Value)
		if err != nil {
			t.Fatal(err)
		}
		id, _, ok := strings.Cut(strings.TrimPrefix(v, "s:"), ".")
		if !ok || !strings.HasPrefix(v, "s:") {
			t.Fatalf("connect.sid %q is not a signed session id", v)
		}
		return id
	}
	t.Fatal("no connect.sid cookie")
	return ""
}
