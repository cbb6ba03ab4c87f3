package httpapi_test

import (
	"os"
	"testing"

	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
)

// TestMain stops the servers the examples started.
func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Shutdown()
	pgtest.Shutdown()
	os.Exit(code)
}
