// Package migrate copies the data of one Redis deployment to another
// (single node, sentinel or cluster, in any combination) and keeps the
// copy in step with the source until cutover.
//
// It needs no PSYNC, SYNC or CONFIG on the source, so it works against
// managed services:
//
//   - Copy SCANs every source master and reads each key atomically (type,
//     absolute expiry with PEXPIRETIME, DUMP) in one small script, then
//     writes RESTORE key <abs-ms> <payload> REPLACE ABSTTL on the target,
//     pipelined per target master, with Options.Pipelines batches of each
//     master in flight (a key in at most one). Expiries are absolute, so
//     TTLs do not drift; a key that expires on the way is not resurrected.
//     Redis Functions libraries are restored on every target master first.
//   - The position of every source master (cursor and run id) is
//     checkpointed in the target under the reserved prefix
//     "{rediskit-migrate" (which copy and verify skip): a run killed
//     mid-copy continues where it stopped. A pass that cannot trust what
//     the target holds (a sync restarted after a crash, a gap, a master
//     with a new run id) compares digests on both sides and copies only
//     the keys that differ.
//   - Sync subscribes to keyspace notifications on every source master
//     before scanning it; changed keys go into a bounded, de-duplicated
//     dirty set (never an event queue) and are re-read and re-applied, so
//     deletes, expirations, evictions and TTL-only changes are copied.
//     Any gap (a lost subscription, an overflow of the dirty set, a
//     failover, a FLUSHALL seen by a heartbeat key) rescans (compares)
//     only the master concerned, forwards and backwards. A source reshard
//     stops the run with ErrTopology.
//   - Keys above a size threshold are copied in chunks, type-aware, into
//     a temporary key in the same slot that is then renamed; so are keys
//     whose DUMP payload the target refuses (another Redis version).
//     Streams keep their ids, consumer groups and pending entries.
//   - Verify compares both directions per source master.
//   - For a cutover, Drain waits until every change made on the source
//     before the call is on the target (writing nothing to the source,
//     so it works under CLIENT PAUSE WRITE), and CarryFences moves rediskit
//     lock fence counters with a bump so no fencing token is issued twice
//     (the command `rediskit migrate cutover` also moves BullMQ queues;
//     docs/MIGRATION.md is the runbook).
//
// Source and target are configured like redisconn with a prefix:
// LoadConfig(SourcePrefix, os.LookupEnv) reads SOURCE_REDIS_NODES,
// SOURCE_REDIS_URL, ...; the command `rediskit migrate` wires it all up.
package migrate
