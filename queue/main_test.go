package queue

import (
	"os"
	"testing"

	"github.com/rediskit/rediskit/internal/redistest"
)

func TestMain(m *testing.M) {
	if os.Getenv("QUEUE_TEST_CHILD") != "" {
		os.Exit(childWorker())
	}
	redistest.Main(m)
}
