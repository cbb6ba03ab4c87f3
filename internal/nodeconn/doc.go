// Package nodeconn is the one per-master connection layer: for what needs
// a connection of its own to every master (near-cache tracking with push
// messages, the cache's pipelined reads, and later sharded pub/sub
// wake-ups).
//
//   - Discover reads the masters from go-redis's own state (its cluster
//     slot map, or the one node of a *redis.Client): no CLUSTER SLOTS of
//     ours.
//   - Watcher is the one discovery loop per client (Acquire shares it
//     between the packages of a process); users Subscribe to topology
//     changes and Kick it when they see a MOVED or a dropped connection.
//   - Dial opens a connection with the client's own options: dialer and
//     TLS, username and password or credentials provider, DB, protocol
//     (RESP3 for push messages), CLIENT SETNAME.
//   - ReadValue, AppendCommand and friends are the small RESP codec those
//     connections need.
//
// Reconnect loops belong to the users and run through internal/retry.
package nodeconn
