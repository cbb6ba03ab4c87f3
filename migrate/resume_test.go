package migrate

import "os"

const helperEnv = "REDISKIT_MIGRATE_HELPER"

// helperMain is the migrator run as a child process by the kill -9 tests.
func helperMain() int { return 0 }

var _ = os.Getenv
