package script_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/internal/script"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const src = `-- echo-1.lua: KEYS[1] key; ARGV[1] mode. Returns the value set, or an ERR-CODE error.
if ARGV[1] == 'fail' then return redis.error_reply('ERR-CODE:TAKEN held by someone') end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('GET', KEYS[1])`

func TestRunLoadsOnNoScriptAndMapsCodes(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := tg.Client(t)
		s := script.New("echo-1.lua", src)
		k := "{" + redistest.Unique(t) + "}:k"
		// Flush the script cache on every master so the first run meets NOSCRIPT.
		if cc, ok := c.(*redis.ClusterClient); ok {
			_ = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return n.ScriptFlush(ctx).Err() })
		} else {
			_ = c.ScriptFlush(ctx).Err()
		}
		got, err := s.Run(ctx, c, []string{k}, "hello").Text()
		if err != nil || got != "hello" {
			t.Fatalf("first run = %q, %v", got, err)
		}
		var owner redis.Cmdable = c
		if cc, ok := c.(*redis.ClusterClient); ok {
			m, err := cc.MasterForKey(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			owner = m
		}
		exists, err := owner.ScriptExists(ctx, s.Hash()).Result()
		if err != nil || !exists[0] {
			t.Fatalf("script not cached after EVAL fallback: %v %v", exists, err)
		}
		err = s.Err(s.Run(ctx, c, []string{k}, "fail").Err())
		var ce *script.CodeError
		if !errors.As(err, &ce) || ce.Code != "TAKEN" || ce.Detail != "held by someone" || ce.Script != "echo-1.lua" {
			t.Fatalf("code error = %#v (%v)", ce, err)
		}
		if err := s.Err(redis.Nil); !errors.Is(err, redis.Nil) {
			t.Fatalf("redis.Nil mapped to %v", err)
		}
		if err := s.Run(ctx, c, []string{k, "extra"}, "x").Err(); err == nil {
			t.Fatal("wrong key count accepted")
		}
		// Pipelines use Queue after Load.
		if err := s.Load(ctx, c); err != nil {
			t.Fatal(err)
		}
		p := c.Pipeline()
		cmd := s.Queue(ctx, p, []string{k}, "piped")
		if _, err := p.Exec(ctx); err != nil || cmd.Val() != "piped" {
			t.Fatalf("pipeline = %v, %v", cmd.Val(), err)
		}
	})
}
