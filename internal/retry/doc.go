// Package retry is the one retry policy of rediskit: how an error is
// classified (was the command applied?), how long to pause between tries,
// how to retry one operation, and how a long-running reader loop rides
// through errors while logging and counting them.
//
// Every package of the module retries through here; none keeps its own
// backoff. Commands sent through a redisconn client are already retried
// by its hook for NotApplied errors, so feature code on such a client does
// not wrap single commands in Do: it uses Loop for its long-running
// readers (events, tracking, notifications, relays) and Do only for work
// the hook cannot see (a whole multi-step operation, a non-redis call).
package retry
