// Package redisconn turns configuration into a verified go-redis client
// for a Redis Cluster, a Sentinel deployment or a single node. It is the
// only rediskit package that dials: every other package takes a
// redis.UniversalClient.
//
// A tour:
//
//	cfg, err := redisconn.FromEnv()          // REDIS_NODES, REDIS_URL, REDIS_MODE, REDIS_TLS, ...
//	conn, err := redisconn.Connect(ctx, cfg)  // detects the mode, verifies every node
//	defer conn.Close()
//	_, err = redisconn.CheckPolicy(ctx, conn.Client, redisconn.RoleQueue) // noeviction?
//
// Every malformed variable produces a *ConfigError naming the variable
// and what was expected (errors.Is(err, ErrConfig)); passwords never
// appear in errors or in Config.String.
//
// Resilience: commands that failed without being applied (refused or
// reset connections, CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN,
// READONLY) are retried up to MaxRetries times with the article's backoff
// min(attempt*100ms, 3s); on such errors a cluster client reloads its slot
// map at once instead of waiting for go-redis's periodic reload, so
// traffic reaches a promoted replica within moments of the promotion.
// Timeouts of sent commands are not retried: the command may have run.
package redisconn
