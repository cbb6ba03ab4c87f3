package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rediskit/rediskit/internal/retry"

	"github.com/redis/go-redis/v9"
)

// ErrScan wraps the error that stopped a shard's scan after every retry
// (see AnalyzeOptions.FailoverTimeout).
var ErrScan = errors.New("memory: scan failed")

// AnalyzeOptions configure Analyze. The zero value scans every master,
// inspects up to about 100,000 keys, and scans at most 100,000 keys/s.
type AnalyzeOptions struct {
	// SampleRatio is the share of keys inspected with MEMORY USAGE,
	// OBJECT ENCODING and PTTL (chosen by a hash of the key name, so a
	// run is repeatable). Zero means min(1, 100000/keys in the
	// deployment); 1 inspects every key. The first key of each pattern
	// on each shard is always inspected so that rare patterns get a size.
	SampleRatio float64
	// KeysPerSecond limits how many keys SCAN may examine per second,
	// summed over all shards: each SCAN call is charged ScanCount keys
	// (or the number it returned, if more), whether MATCH keeps them or
	// not. The commands that inspect samples come on top (3-4 per sampled
	// key, pipelined). Zero means 100,000; a negative value means no
	// limit.
	KeysPerSecond int
	// ScanCount is the COUNT hint of each SCAN. Zero means 1000.
	ScanCount int
	// Match is SCAN's MATCH pattern. Empty means every key.
	Match string
	// Replicas scans a replica of each shard instead of its master
	// (falling back to the master when a shard has none), to spare the
	// masters. Ignored for a client that is not a cluster client.
	Replicas bool
	// MemorySamples is the SAMPLES argument of MEMORY USAGE (how many
	// elements of an aggregate are measured). Zero means 5, Redis's
	// default; negative means 0, every element (slow on big keys).
	MemorySamples int
	// TopKeys is how many of the biggest sampled keys each pattern
	// keeps. Zero means 5.
	TopKeys int
	// MaxPatterns bounds the number of patterns reported; the keys of
	// the smallest patterns beyond it are reported as OtherPattern.
	// Zero means 1000.
	MaxPatterns int
	// FailoverTimeout is how long a shard whose node fails mid-scan waits
	// for a node serving its slots (a promoted replica) before Analyze
	// gives up. Zero means 30 s.
	FailoverTimeout time.Duration
	// Progress, when set, is called from the scanning goroutines (one
	// call at a time) at most every 100 ms and once at the end.
	Progress func(Progress)
}

// Progress is a snapshot of a running analysis.
type Progress struct {
	// Keys scanned so far and Total (sum of DBSIZE when the scan began).
	Keys, Total int64
	// Sampled keys so far.
	Sampled int64
	// Shards finished and Shards in all.
	ShardsDone, Shards int
	// Elapsed since the start and ETA, the estimated time left (zero
	// until there is a rate).
	Elapsed, ETA time.Duration
	// Done is true on the last call.
	Done bool
}

// Analyze scans every shard of the deployment exactly once, never with
// KEYS: a cluster client's masters (or replicas) in parallel, any other
// client as one node. It folds key names into patterns (see Fold),
// inspects a sample of keys, and estimates memory per pattern.
//
// If a node fails mid-scan, its shard's partial counts are thrown away
// and the shard is scanned again from the start on the node that serves
// its slots now (the promoted replica): SCAN cursors are only meaningful
// on the node that issued them, and starting over is what keeps every
// shard counted exactly once. A shard is tried at most 3 times.
//
// Analyze is safe to call concurrently; the client is only read.
func Analyze(ctx context.Context, c redis.UniversalClient, opts AnalyzeOptions) (*Report, error) {
	a := &analyzer{opts: opts.withDefaults(), start: time.Now()}
	a.lim.rate = float64(a.opts.KeysPerSecond)
	if cc, ok := c.(*redis.ClusterClient); ok {
		a.cc = cc
		a.nodes.opt = cc.Options()
		defer a.nodes.close()
		shards, err := clusterShards(ctx, cc)
		if err != nil {
			return nil, err
		}
		a.shards = shards
	} else {
		a.single = c
		a.shards = []*shard{{id: "single"}}
	}
	_, maxValue, err := listpackLimits(ctx, c)
	if err != nil {
		return nil, err
	}
	a.maxValue = maxValue
	for _, sh := range a.shards {
		sh.current, sh.replica = a.pick(sh)
		n, err := a.client(sh).DBSize(ctx).Result()
		a.commands.Add(1)
		if err != nil {
			return nil, fmt.Errorf("memory: dbsize %s: %w", sh.current, err)
		}
		a.total += n
	}
	a.ratio = a.opts.SampleRatio
	if a.ratio <= 0 {
		a.ratio = min(1, 100_000/math.Max(1, float64(a.total)))
	}
	a.ratio = min(a.ratio, 1)
	a.threshold = uint64(math.Min(a.ratio*math.Exp2(64), math.MaxUint64))

	results := make([]shardResult, len(a.shards))
	var wg sync.WaitGroup
	for i, sh := range a.shards {
		wg.Go(func() { results[i] = a.scanShard(ctx, sh) })
	}
	wg.Wait()
	a.progress(0, 0, true)
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("memory: analyze: %w", ctx.Err())
		}
		return nil, err
	}
	return a.report(results), nil
}

func (o AnalyzeOptions) withDefaults() AnalyzeOptions {
	if o.KeysPerSecond == 0 {
		o.KeysPerSecond = 100_000
	}
	if o.ScanCount <= 0 {
		o.ScanCount = 1000
	}
	if o.MemorySamples == 0 {
		o.MemorySamples = 5
	} else if o.MemorySamples < 0 {
		o.MemorySamples = 0
	}
	if o.TopKeys <= 0 {
		o.TopKeys = 5
	}
	if o.MaxPatterns <= 0 {
		o.MaxPatterns = 1000
	}
	if o.FailoverTimeout <= 0 {
		o.FailoverTimeout = 30 * time.Second
	}
	return o
}

type analyzer struct {
	opts      AnalyzeOptions
	cc        *redis.ClusterClient  // nil unless a cluster
	single    redis.UniversalClient // the client when not a cluster
	shards    []*shard
	maxValue  int
	ratio     float64
	threshold uint64
	total     int64
	start     time.Time
	lim       limiter

	commands, scanned, sampled atomic.Int64
	restarts                   atomic.Int64

	mu         sync.Mutex // guards nodes, lastReport, shardsDone, Progress calls
	nodes      nodeClients
	lastReport time.Time
	shardsDone int
}

type shardResult struct {
	accs map[string]*acc
	node NodeReport
	err  error
}

// pick returns the node to scan for sh: a replica when asked and there is
// one, else the master.
func (a *analyzer) pick(sh *shard) (addr string, replica bool) {
	if a.cc != nil && a.opts.Replicas && len(sh.replicas) > 0 {
		return sh.replicas[0], true
	}
	return sh.master, false
}

func (a *analyzer) client(sh *shard) node {
	if a.cc == nil {
		return a.single
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodes.get(sh.current, sh.replica)
}

func (a *analyzer) scanShard(ctx context.Context, sh *shard) shardResult {
	var abandoned []string
	for attempt := 1; ; attempt++ {
		cl := a.client(sh)
		accs, keys, err := a.scanNode(ctx, cl)
		if err == nil {
			nr := NodeReport{Addr: sh.current, Role: "master", Slots: sh.slots(), Keys: keys, Attempts: attempt, Abandoned: abandoned}
			if sh.replica {
				nr.Role = "replica"
			}
			if a.cc == nil {
				nr.Addr = "(client)"
				if rc, ok := a.single.(*redis.Client); ok {
					nr.Addr = rc.Options().Addr
				}
				if r, err := role(ctx, cl); err == nil && r == "slave" {
					nr.Role = "replica"
				}
			}
			nodeFacts(ctx, cl, &nr)
			a.mu.Lock()
			a.shardsDone++
			a.mu.Unlock()
			return shardResult{accs: accs, node: nr}
		}
		a.scanned.Add(-keys) // this attempt's keys do not count
		if ctx.Err() != nil {
			return shardResult{err: ctx.Err()}
		}
		abandoned = append(abandoned, sh.current)
		if attempt >= 3 {
			return shardResult{err: fmt.Errorf("%w: shard %s on %s: %w", ErrScan, sh.slots(), sh.current, err)}
		}
		if rerr := a.recover(ctx, sh); rerr != nil {
			return shardResult{err: fmt.Errorf("%w: shard %s: %w (after %w)", ErrScan, sh.slots(), rerr, err)}
		}
		a.restarts.Add(1)
	}
}

// recover waits until a node serves sh again and makes it sh.current.
func (a *analyzer) recover(ctx context.Context, sh *shard) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.FailoverTimeout)
	defer cancel()
	for {
		if a.cc == nil {
			if err := a.single.Ping(ctx).Err(); err == nil {
				return nil
			}
		} else if master, reps, err := servedBy(ctx, a.cc, sh.ranges[0][0]); err == nil {
			var cands []string
			if a.opts.Replicas {
				cands = append(cands, reps...)
			}
			cands = append(cands, master)
			for _, addr := range cands {
				replica := addr != master
				a.mu.Lock()
				cl := a.nodes.get(addr, replica)
				a.mu.Unlock()
				r, err := role(ctx, cl)
				if err != nil || (!replica && r != "master") {
					continue
				}
				sh.master, sh.replicas, sh.current, sh.replica = master, reps, addr, replica
				return nil
			}
		}
		if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("no node took over within %v: %w", a.opts.FailoverTimeout, err)
		}
	}
}

// scanNode scans one node from cursor 0 and returns its patterns and the
// number of keys it saw.
func (a *analyzer) scanNode(ctx context.Context, cl node) (map[string]*acc, int64, error) {
	accs := map[string]*acc{}
	var keys int64
	var cursor uint64
	for {
		batch, next, err := cl.Scan(ctx, cursor, a.opts.Match, int64(a.opts.ScanCount)).Result()
		a.commands.Add(1)
		if err != nil {
			return nil, keys, err
		}
		sampled, err := a.inspect(ctx, cl, batch, accs)
		if err != nil {
			return nil, keys, err
		}
		keys += int64(len(batch))
		a.progress(len(batch), sampled, false)
		if next == 0 {
			return accs, keys, nil
		}
		cursor = next
		// Charge what SCAN examined (about COUNT entries), not what MATCH
		// let through: that is the work Redis did.
		if err := a.lim.take(ctx, max(len(batch), a.opts.ScanCount)); err != nil {
			return nil, keys, err
		}
	}
}

// inspect folds a batch of keys into accs and measures the sampled ones.
func (a *analyzer) inspect(ctx context.Context, cl node, batch []string, accs map[string]*acc) (int, error) {
	type probe struct {
		key string
		acc *acc
		mem *redis.IntCmd
		enc *redis.StringCmd
		ttl *redis.DurationCmd
		len *redis.IntCmd
	}
	var probes []*probe
	for _, k := range batch {
		p := Fold(k)
		ac := accs[p]
		if ac == nil {
			if len(accs) >= a.opts.MaxPatterns {
				p = OtherPattern
				ac = accs[p]
			}
			if ac == nil {
				ac = &acc{}
				accs[p] = ac
			}
		}
		ac.keys++
		if ac.keys == 1 || sampleHash(k) < a.threshold || a.ratio >= 1 {
			probes = append(probes, &probe{key: k, acc: ac})
		}
	}
	if len(probes) == 0 {
		return 0, nil
	}
	pipe := cl.Pipeline()
	for _, p := range probes {
		p.mem = pipe.MemoryUsage(ctx, p.key, a.opts.MemorySamples)
		p.enc = pipe.ObjectEncoding(ctx, p.key)
		p.ttl = pipe.PTTL(ctx, p.key)
	}
	a.commands.Add(int64(3 * len(probes)))
	if _, err := pipe.Exec(ctx); err != nil && !replyError(err) {
		return 0, err
	}
	// Value lengths of small strings, for the what-if.
	var strs []*probe
	pipe = cl.Pipeline()
	for _, p := range probes {
		switch p.enc.Val() {
		case "embstr", "int", "raw":
			if p.mem.Val() > 0 {
				p.len = pipe.StrLen(ctx, p.key)
				strs = append(strs, p)
			}
		}
	}
	if len(strs) > 0 {
		a.commands.Add(int64(len(strs)))
		if _, err := pipe.Exec(ctx); err != nil && !replyError(err) {
			return 0, err
		}
	}
	n := 0
	for _, p := range probes {
		if p.mem.Err() != nil || p.enc.Err() != nil {
			continue // deleted since SCAN returned it
		}
		n++
		p.acc.addSample(KeySize{Key: p.key, Bytes: p.mem.Val(), Encoding: p.enc.Val()}, p.ttl.Val() >= 0, a.opts.TopKeys)
		if p.len != nil && p.len.Err() == nil && p.len.Val() <= int64(a.maxValue) {
			p.acc.strings++
			p.acc.strLen += p.len.Val()
		}
	}
	a.sampled.Add(int64(n))
	return n, nil
}

// replyError reports whether err is a reply from Redis (a missing key,
// WRONGTYPE) rather than a failure to talk to it.
func replyError(err error) bool {
	var re redis.Error
	return errors.Is(err, redis.Nil) || errors.As(err, &re)
}

// sampleHash maps a key name to a uniform 64-bit number (FNV-1a, then
// the splitmix64 finaliser to spread similar names).
func sampleHash(k string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(k))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (a *analyzer) progress(keys, sampled int, done bool) {
	total := a.scanned.Add(int64(keys))
	if a.opts.Progress == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if !done && now.Sub(a.lastReport) < 100*time.Millisecond {
		return
	}
	a.lastReport = now
	p := Progress{Keys: total, Total: max(a.total, total), Sampled: a.sampled.Load(), ShardsDone: a.shardsDone,
		Shards: len(a.shards), Elapsed: now.Sub(a.start), Done: done}
	if total > 0 && !done {
		p.ETA = time.Duration(float64(p.Elapsed) * float64(p.Total-total) / float64(total))
	}
	a.opts.Progress(p)
}

// report merges the shards' patterns into a Report.
func (a *analyzer) report(results []shardResult) *Report {
	r := &Report{Started: a.start, Duration: time.Since(a.start), SampleRatio: a.ratio, Restarts: int(a.restarts.Load())}
	merged := map[string]*acc{}
	for _, res := range results {
		for p, ac := range res.accs {
			if m := merged[p]; m != nil {
				m.merge(ac, a.opts.TopKeys)
			} else {
				merged[p] = ac
			}
		}
		r.Nodes = append(r.Nodes, res.node)
	}
	names := make([]string, 0, len(merged))
	for p := range merged {
		if p != OtherPattern {
			names = append(names, p)
		}
	}
	slices.SortFunc(names, func(x, y string) int {
		if d := merged[y].keys - merged[x].keys; d != 0 {
			return int(math.Copysign(1, float64(d)))
		}
		return 0
	})
	if len(names) > a.opts.MaxPatterns-1 {
		other := merged[OtherPattern]
		if other == nil {
			other = &acc{}
			merged[OtherPattern] = other
		}
		for _, p := range names[a.opts.MaxPatterns-1:] {
			other.merge(merged[p], a.opts.TopKeys)
		}
		names = names[:a.opts.MaxPatterns-1]
	}
	if merged[OtherPattern] != nil {
		names = append(names, OtherPattern)
	}
	maxFields, maxValue := 0, 0
	for _, n := range r.Nodes {
		e, v := atoi(n.Config["hash-max-listpack-entries"], 128), atoi(n.Config["hash-max-listpack-value"], 64)
		if maxFields == 0 || e < maxFields {
			maxFields = e
		}
		if maxValue == 0 || v < maxValue {
			maxValue = v
		}
	}
	for _, p := range names {
		pr := merged[p].pattern(p, maxFields, maxValue)
		r.Patterns = append(r.Patterns, pr)
		r.Keys += pr.Keys
		r.Sampled += pr.Sampled
		r.Bytes += pr.Bytes
	}
	slices.SortStableFunc(r.Patterns, func(x, y PatternReport) int {
		switch {
		case x.Bytes > y.Bytes:
			return -1
		case x.Bytes < y.Bytes:
			return 1
		}
		return 0
	})
	r.Commands = a.commands.Load()
	if s := r.Duration.Seconds(); s > 0 {
		r.OpsPerSecond = float64(r.Commands) / s
	}
	return r
}

func atoi(s string, def int) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return def
	}
	return n
}

// limiter spaces out work to rate units per second across goroutines.
// The zero rate (or negative) means no limit.
type limiter struct {
	rate float64
	mu   sync.Mutex
	next time.Time
}

// take reserves n units and waits until they are paid for.
func (l *limiter) take(ctx context.Context, n int) error {
	if l.rate <= 0 || n == 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	until := l.next
	l.mu.Unlock()
	if d := time.Until(until); d > 0 {
		return retry.Sleep(ctx, d)
	}
	return nil
}
