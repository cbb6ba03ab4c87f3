// Package dashboard is one web page for the whole Redis backbone: the
// cluster (nodes, roles, slots, replication lag, ops/s, memory, hit rate,
// memory-policy fit, slow log), and BullMQ queues run by Node, Go or both
// (bull-board's features: discovery on every master and prefix, counts,
// charts, job lists, bounded search, job detail, retry, promote, remove,
// clean, pause/resume, add, schedulers, workers).
//
// A Dashboard is an http.Handler with a JSON API under api/ and embedded
// static assets (no Node build step):
//
//	d, err := dashboard.New(client, dashboard.Options{Prefix: "/admin",
//		Authorize: dashboard.BasicAuth(user, password)})
//	mux.Handle("/admin/", d)
//
// Safety: Options.ReadOnly refuses every action; Options.Authorize sees
// every request (New refuses a writable dashboard without it unless
// AllowAnonymousWrites is set); every action needs the CSRF token of
// GET api/session in the X-CSRF-Token header, matching its cookie, and
// must be same-origin (Sec-Fetch-Site/Origin); destructive actions need
// "confirm": true (the UI asks first); each action writes one slog line
// (who, what, outcome). All Redis work of a request is bounded by
// Options.Timeout, each node of the cluster page by Options.NodeTimeout;
// queue discovery uses SCAN (internal/scan), never KEYS, and every list,
// search and bulk action is bounded.
//
// Job actions go through the queue package (Remove, Clean, Pause, Resume,
// Add, RetryFailed, PromoteDelayed); retrying or promoting one job runs
// movejob-8.lua, the single-job form of the queue's retry script.
// The dashboard imports queue and redisconn because it shows them.
package dashboard
