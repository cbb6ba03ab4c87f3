package testlog_test

import (
	"fmt"
	"log/slog"

	"github.com/rediskit/rediskit/internal/testlog"
)

func ExampleBuffer() {
	var logs testlog.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	log.Info("relay started", "channel", "cache_invalidation")
	fmt.Print(logs.String())
	// Output: level=INFO msg="relay started" channel=cache_invalidation
}
