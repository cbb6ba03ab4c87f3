// Package redisproc starts and controls real redis-server processes: a
// single node, a Redis Cluster (slots assigned, replicas attached, waits
// for a healthy state) and a Sentinel deployment, plus the faults tests
// need: kill a master and wait for its replica to take over, manual
// failover, pause and resume (SIGSTOP/SIGCONT), restart, flush. It is
// used by internal/redistest for tests, by bench, and by `rediskit up`.
//
// Processes started without Detach get a parent-death signal, so a test
// binary that dies leaves no servers behind.
package redisproc
