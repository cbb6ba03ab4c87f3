package migrate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rediskit/rediskit/internal/retry"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/script"
)

// VerifyOptions tune Verify. The zero value compares exactly, at up to
// 50,000 keys/s.
type VerifyOptions struct {
	// TTLTolerance is the largest accepted difference between the
	// absolute expiries of a key on both sides. Zero means they must be
	// equal to the millisecond (migrate copies absolute expiries).
	TTLTolerance time.Duration
	// KeysPerSecond caps the keys read per second over both directions
	// and all masters. Zero means 50,000; negative means no cap.
	KeysPerSecond int
	// ScanCount is the SCAN COUNT hint. Zero means 1000.
	ScanCount int
	// BigKeyBytes: keys above it (see Options.BigKeyBytes) are compared by
	// type, length and expiry only. Zero means 256 KiB.
	BigKeyBytes int64
	// MaxReported bounds the differences listed in the report (all are
	// counted). Zero means 100.
	MaxReported int
	// Rechecks is how many times a differing key is read again (50 ms
	// apart) before it counts, so keys changing or expiring while verify
	// runs are not reported. Zero means 3. A key whose source value still
	// changed between the last two reads is counted in Report.Changing,
	// not as a difference: verify with the writers stopped to check it.
	Rechecks int
}

// Difference kinds.
const (
	DiffMissing = "missing" // on the source, not on the target
	DiffExtra   = "extra"   // on the target, not on the source
	DiffType    = "type"
	DiffValue   = "value"
	DiffTTL     = "ttl"
)

// Difference is one key that differs.
type Difference struct {
	Key    string     `json:"key"`
	Kind   string     `json:"kind"`
	Source string     `json:"source,omitempty"`
	Target string     `json:"target,omitempty"`
	src    readResult // the source read compared (settle)
}

// Report is the outcome of Verify.
type Report struct {
	// SourceKeys and TargetKeys are the keys checked in each direction.
	SourceKeys int64 `json:"source_keys"`
	TargetKeys int64 `json:"target_keys"`
	// Counts of differences by kind.
	Missing int64 `json:"missing"`
	Extra   int64 `json:"extra"`
	Type    int64 `json:"type"`
	Value   int64 `json:"value"`
	TTL     int64 `json:"ttl"`
	// Changing counts the keys that differed on every recheck while their
	// source value kept changing (a live writer ahead of a sync): not
	// differences, as nothing can be said of them until writes stop.
	Changing int64 `json:"changing"`
	// Differences lists up to MaxReported of them.
	Differences  []Difference  `json:"differences"`
	TTLTolerance time.Duration `json:"ttl_tolerance_ns"`
	Duration     time.Duration `json:"duration_ns"`
}

// Clean reports whether no difference was found.
func (r Report) Clean() bool { return r.Missing+r.Extra+r.Type+r.Value+r.TTL == 0 }

func (r Report) String() string {
	s := fmt.Sprintf("checked %d source keys and %d target keys in %v: %d missing, %d extra, %d type, %d value, %d ttl (tolerance %v)",
		r.SourceKeys, r.TargetKeys, r.Duration.Round(time.Millisecond), r.Missing, r.Extra, r.Type, r.Value, r.TTL, r.TTLTolerance)
	if r.Changing > 0 {
		s += fmt.Sprintf("; %d keys changing on the source while checked", r.Changing)
	}
	return s
}

type verifier struct {
	src, dst redis.UniversalClient
	opts     VerifyOptions
	m        *Migrator // for read()
	lim      *limiter
	mu       sync.Mutex
	rep      Report
	srcKeys  atomic.Int64
	dstKeys  atomic.Int64
}

// Verify compares src and dst in both directions: every source key on
// the target with the same type, value and absolute expiry (within
// TTLTolerance), and no target key missing from the source. Source
// masters and target masters are scanned in parallel, rate-limited.
// Keys under ReservedPrefix are skipped. The error is for failures to
// read; differences are in the report.
func Verify(ctx context.Context, src, dst redis.UniversalClient, opts VerifyOptions) (Report, error) {
	if opts.KeysPerSecond == 0 {
		opts.KeysPerSecond = 50_000
	}
	if opts.ScanCount <= 0 {
		opts.ScanCount = 1000
	}
	if opts.MaxReported <= 0 {
		opts.MaxReported = 100
	}
	if opts.Rechecks <= 0 {
		opts.Rechecks = 3
	}
	start := time.Now()
	v := &verifier{src: src, dst: dst, opts: opts, lim: newLimiter(opts.KeysPerSecond),
		m: New(src, dst, Options{BigKeyBytes: opts.BigKeyBytes})}
	v.rep.TTLTolerance = opts.TTLTolerance
	infos, err := discover(ctx, src)
	if err != nil {
		return v.rep, err
	}
	if err := readScript.Load(ctx, dst); err != nil {
		return v.rep, fmt.Errorf("migrate: target: SCRIPT LOAD: %w", err)
	}
	for _, in := range infos {
		if err := in.node.ScriptLoad(ctx, readScript.Source()).Err(); err != nil {
			return v.rep, fmt.Errorf("migrate: source %s: SCRIPT LOAD: %w", in.addr, err)
		}
		if err := in.node.ScriptLoad(ctx, readManyScript.Source()).Err(); err != nil {
			v.m.perKey.Store(true)
		}
	}
	targets, err := (&Migrator{dst: dst}).newPruner(ctx)
	if err != nil {
		return v.rep, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(infos)+len(targets.nodes))
	for i, in := range infos {
		wg.Go(func() { errs[i] = v.forward(ctx, in.node) })
	}
	for j, n := range targets.nodes {
		wg.Go(func() { errs[len(infos)+j] = v.backward(ctx, n) })
	}
	wg.Wait()
	v.rep.SourceKeys, v.rep.TargetKeys = v.srcKeys.Load(), v.dstKeys.Load()
	v.rep.Duration = time.Since(start)
	sort.Slice(v.rep.Differences, func(i, j int) bool { return v.rep.Differences[i].Key < v.rep.Differences[j].Key })
	for _, err := range errs {
		if err != nil {
			return v.rep, err
		}
	}
	return v.rep, nil
}

func scanAll(ctx context.Context, node *redis.Client, count int, lim *limiter, fn func([]string) error) error {
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, "", int64(count)).Result()
		if err != nil {
			return fmt.Errorf("migrate: scan %s: %w", node.Options().Addr, err)
		}
		out := keys[:0]
		for _, k := range keys {
			if !reserved(k) {
				out = append(out, k)
			}
		}
		if len(out) > 0 {
			if err := lim.wait(ctx, len(out)); err != nil {
				return err
			}
			if err := fn(out); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// forward checks every key of one source master on the target.
func (v *verifier) forward(ctx context.Context, node *redis.Client) error {
	return scanAll(ctx, node, v.opts.ScanCount, v.lim, func(keys []string) error {
		v.srcKeys.Add(int64(len(keys)))
		for tries := 0; len(keys) > 0; tries++ {
			diffs, err := v.compare(ctx, node, keys)
			if err != nil {
				return err
			}
			if tries == v.opts.Rechecks || len(diffs) == 0 {
				diffs, err = v.settle(ctx, node, diffs)
				if err != nil {
					return err
				}
				v.add(diffs)
				return nil
			}
			keys = keys[:0]
			for _, d := range diffs {
				keys = append(keys, d.Key)
			}
			if err := retry.Sleep(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	})
}

// backward finds keys of one target master that the source lacks.
func (v *verifier) backward(ctx context.Context, node *redis.Client) error {
	return scanAll(ctx, node, v.opts.ScanCount, v.lim, func(keys []string) error {
		v.dstKeys.Add(int64(len(keys)))
		for tries := 0; len(keys) > 0; tries++ {
			pipe := v.src.Pipeline()
			cmds := make([]*redis.IntCmd, len(keys))
			for i, k := range keys {
				cmds[i] = pipe.Exists(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("migrate: source: %w", err)
			}
			var extra []string
			for i, c := range cmds {
				if c.Val() == 0 {
					extra = append(extra, keys[i])
				}
			}
			if len(extra) > 0 {
				// Still on the target? (It may have just been deleted there too.)
				pipe := v.dst.Pipeline()
				ex := make([]*redis.IntCmd, len(extra))
				for i, k := range extra {
					ex[i] = pipe.Exists(ctx, k)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					return fmt.Errorf("migrate: target: %w", err)
				}
				still := extra[:0]
				for i, k := range extra {
					if ex[i].Val() == 1 {
						still = append(still, k)
					}
				}
				extra = still
			}
			if tries == v.opts.Rechecks || len(extra) == 0 {
				var diffs []Difference
				for _, k := range extra {
					diffs = append(diffs, Difference{Key: k, Kind: DiffExtra})
				}
				v.add(diffs)
				return nil
			}
			keys = extra
			if err := retry.Sleep(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	})
}

func (v *verifier) add(diffs []Difference) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, d := range diffs {
		switch d.Kind {
		case DiffMissing:
			v.rep.Missing++
		case DiffExtra:
			v.rep.Extra++
		case DiffType:
			v.rep.Type++
		case DiffValue:
			v.rep.Value++
		case DiffTTL:
			v.rep.TTL++
		}
		if len(v.rep.Differences) < v.opts.MaxReported {
			v.rep.Differences = append(v.rep.Differences, d)
		}
	}
}

// settle reads the source of the keys still differing after the last
// recheck once more: those whose source changed since the read compared
// are counted as changing, the rest returned as differences. A big key
// (compared without its payload) changing only in content stays a
// difference.
func (v *verifier) settle(ctx context.Context, node *redis.Client, diffs []Difference) ([]Difference, error) {
	if len(diffs) == 0 {
		return diffs, nil
	}
	keys := make([]string, len(diffs))
	for i, d := range diffs {
		keys[i] = d.Key
	}
	now, _, err := v.m.read(ctx, node, keys, modeDump)
	if err != nil {
		return nil, fmt.Errorf("migrate: source: %w", err)
	}
	out := diffs[:0]
	var changing int64
	for i, d := range diffs {
		if now[i] != d.src {
			changing++
			continue
		}
		out = append(out, d)
	}
	v.mu.Lock()
	v.rep.Changing += changing
	v.mu.Unlock()
	return out, nil
}

// compare reads keys on both sides and returns those that differ.
func (v *verifier) compare(ctx context.Context, node *redis.Client, keys []string) ([]Difference, error) {
	s, _, err := v.m.read(ctx, node, keys, modeDump)
	if err != nil {
		return nil, fmt.Errorf("migrate: source: %w", err)
	}
	t, err := v.readTarget(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("migrate: target: %w", err)
	}
	var diffs []Difference
	for i, k := range keys {
		a, b := s[i], t[i]
		n := len(diffs)
		switch {
		case a.typ == "none" && b.typ == "none":
		case a.typ == "none":
			diffs = append(diffs, Difference{Key: k, Kind: DiffExtra, Target: b.typ})
		case b.typ == "none":
			diffs = append(diffs, Difference{Key: k, Kind: DiffMissing, Source: a.typ})
		case a.typ != b.typ:
			diffs = append(diffs, Difference{Key: k, Kind: DiffType, Source: a.typ, Target: b.typ})
		case !ttlEqual(a.exp, b.exp, v.opts.TTLTolerance):
			diffs = append(diffs, Difference{Key: k, Kind: DiffTTL, Source: expString(a.exp), Target: expString(b.exp)})
		case a.payload != "" && a.payload == b.payload:
		default:
			same, why, err := v.sameValue(ctx, node, k, a.typ)
			if err != nil {
				return nil, err
			}
			if !same {
				diffs = append(diffs, Difference{Key: k, Kind: DiffValue, Source: why})
			}
		}
		if len(diffs) > n {
			diffs[n].src = a
		}
	}
	return diffs, nil
}

func (v *verifier) readTarget(ctx context.Context, keys []string) ([]readResult, error) {
	args := v.m.readArgs(modeDump)
	pipe := v.dst.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		cmds[i] = readScript.Queue(ctx, pipe, []string{k}, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !script.IsNoScript(err) {
		return nil, err
	}
	out := make([]readResult, len(keys))
	for i, c := range cmds {
		if script.IsNoScript(c.Err()) {
			// A target master restarted: load and read this key again.
			if err := readScript.Load(ctx, v.dst); err != nil {
				return nil, err
			}
			c = readScript.Run(ctx, v.dst, []string{keys[i]}, args...)
		}
		r, err := c.Slice()
		if err != nil || len(r) != numReplyFields {
			return nil, fmt.Errorf("read %q: %v", keys[i], err)
		}
		out[i].typ, _ = r[replyType].(string)
		out[i].exp, _ = r[replyExpiry].(int64)
		out[i].payload, _ = r[replyPayload].(string)
	}
	return out, nil
}

func ttlEqual(a, b int64, tol time.Duration) bool {
	if a < 0 || b < 0 {
		return a == b
	}
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= tol.Milliseconds()
}

func expString(ms int64) string {
	if ms == -1 {
		return "no expiry"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") + " (" + strconv.FormatInt(ms, 10) + ")"
}

// sameValue compares one key's value type-aware (different encodings
// give different DUMP payloads for equal values). Keys above BigKeyBytes
// are compared by length only.
func (v *verifier) sameValue(ctx context.Context, node *redis.Client, key, typ string) (bool, string, error) {
	big := v.m.opts.BigKeyBytes
	size := func(c redis.Cmdable) (int64, error) {
		switch typ {
		case "string":
			return c.StrLen(ctx, key).Result()
		case "hash":
			return c.HLen(ctx, key).Result()
		case "set":
			return c.SCard(ctx, key).Result()
		case "zset":
			return c.ZCard(ctx, key).Result()
		case "list":
			return c.LLen(ctx, key).Result()
		case "stream":
			return c.XLen(ctx, key).Result()
		}
		return 0, fmt.Errorf("migrate: verify: type %q of %q is not supported", typ, key)
	}
	ns, err := size(node)
	if err != nil {
		return false, "", err
	}
	nt, err := size(v.dst)
	if err != nil {
		return false, "", err
	}
	if ns != nt {
		return false, fmt.Sprintf("length %d on the source, %d on the target", ns, nt), nil
	}
	if (typ == "string" && ns > big) || (typ != "string" && ns*64 > big) || typ == "stream" {
		return true, "", nil // big: length only
	}
	get := func(c redis.Cmdable) (any, error) {
		switch typ {
		case "string":
			return c.Get(ctx, key).Result()
		case "hash":
			return c.HGetAll(ctx, key).Result()
		case "set":
			ms, err := c.SMembers(ctx, key).Result()
			slices.Sort(ms)
			return ms, err
		case "zset":
			return c.ZRangeWithScores(ctx, key, 0, -1).Result()
		default:
			return c.LRange(ctx, key, 0, -1).Result()
		}
	}
	a, err := get(node)
	if err != nil {
		return false, "", err
	}
	b, err := get(v.dst)
	if err != nil {
		return false, "", err
	}
	if ma, ok := a.(map[string]string); ok {
		if maps.Equal(ma, b.(map[string]string)) {
			return true, "", nil
		}
		return false, "hash fields differ", nil
	}
	if fmt.Sprint(a) == fmt.Sprint(b) {
		return true, "", nil
	}
	return false, typ + " contents differ", nil
}

// limiter lets n keys per second through, shared by all goroutines.
type limiter struct {
	mu    sync.Mutex
	rate  float64
	next  time.Time
	unlim bool
}

func newLimiter(perSec int) *limiter {
	return &limiter{rate: float64(perSec), unlim: perSec < 0}
}

func (l *limiter) wait(ctx context.Context, n int) error {
	if l.unlim {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	l.mu.Unlock()
	if d := time.Until(at); d > 0 {
		return retry.Sleep(ctx, d)
	}
	return nil
}
