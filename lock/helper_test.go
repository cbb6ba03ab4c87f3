package lock_test

const helperEnv = "REDISKIT_LOCK_HELPER"

func helperMain() int { return 0 }
