package lock

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

// Options.Pipelining picks the auto-pipeliner (on by default); the
// deprecated DisableAutoPipeline still turns it off while Pipelining is
// left at its default.
func TestPipeliningOption(t *testing.T) {
	c := redistest.SingleTarget(t).Client(t)
	for _, tc := range []struct {
		opts Options
		ap   bool
	}{
		{Options{}, true},
		{Options{Pipelining: PipeliningOn}, true},
		{Options{Pipelining: PipeliningOff}, false},
		{Options{DisableAutoPipeline: true}, false},
		{Options{Pipelining: PipeliningOn, DisableAutoPipeline: true}, true},
	} {
		l := New(c, tc.opts)
		if _, ap := l.nodes[0].run.(*redis.AutoPipeliner); ap != tc.ap {
			t.Errorf("%+v: runner %T, want auto-pipelined %v", tc.opts, l.nodes[0].run, tc.ap)
		}
		_ = l.Close()
	}
}
