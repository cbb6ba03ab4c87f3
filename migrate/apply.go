package migrate

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
	"github.com/rediskit/rediskit/internal/script"
)

//go:embed read-1.lua
var readSrc string

var readScript = script.New("read-1.lua", readSrc)

//go:embed readmany-0.lua
var readManySrc string

// readManyScript reads a whole batch of one node in one call (Redis 7+);
// read-1.lua per key is the fallback for older servers.
var readManyScript = script.New("readmany-0.lua", readManySrc)

// Positions of readmany-0.lua's ARGV: read-1.lua's, then the keys.
const (
	argManyMode     = argReadMode
	argManyBigBytes = argReadBigBytes
	argManyCollMin  = argReadCollMin
	argManyBudget   = numReadArgs // bytes of payload per call
	argManyKeys     = numReadArgs + 1
)

// Positions of read-1.lua's ARGV.
const (
	argReadMode     = iota // "dump" or "probe"
	argReadBigBytes        // BigKeyBytes
	argReadCollMin         // collection length from which MEMORY USAGE is asked
	numReadArgs
)

// Values of argReadMode.
const (
	modeDump   = "dump"
	modeDigest = "digest" // the payload is its SHA1 (compare passes)
	modeProbe  = "probe"
)

// collMin: collections shorter than this are always dumped (a listpack of
// 128 entries is small under Redis's default encodings).
const collMin = 128

// Positions of read-1.lua's reply.
const (
	replyType = iota
	replyExpiry
	replyPayload
	numReplyFields
)

// readResult is one key's state on the source.
type readResult struct {
	typ     string // "none" when missing
	exp     int64  // absolute ms; -1 none; -2 missing
	payload string // "" in probe mode or for a big key
}

func (m *Migrator) readArgs(mode string) []any {
	a := make([]any, numReadArgs)
	a[argReadMode] = mode
	a[argReadBigBytes] = m.opts.BigKeyBytes
	a[argReadCollMin] = collMin
	return a
}

// loadScript loads the read scripts on every source master. A server
// that refuses readmany-0.lua (before Redis 7: no script flags) is read
// key by key.
func (m *Migrator) loadScript(ctx context.Context, shards []*shard) error {
	for _, sh := range shards {
		node, addr := sh.current()
		if err := node.ScriptLoad(ctx, readScript.Source()).Err(); err != nil {
			return fmt.Errorf("migrate: source %s: SCRIPT LOAD: %w", addr, err)
		}
		if err := node.ScriptLoad(ctx, readManyScript.Source()).Err(); err != nil && !m.perKey.Swap(true) {
			m.log.Info("migrate: source reads key by key (batch script refused, Redis before 7?)", "addr", addr, "err", err)
		}
	}
	return nil
}

// readBudget is the payload bytes one readmany-0.lua call returns at
// most (plus one key): Pipelines batches of every master in flight stay
// within a few MiB each, whatever the key sizes up to BigKeyBytes.
func (m *Migrator) readBudget() int64 { return max(4<<20, 2*m.opts.BigKeyBytes) }

// readMany reads a batch of one node in one script call; it may read
// only the first keys (see readBudget): the result says how many.
func (m *Migrator) readMany(ctx context.Context, node *redis.Client, keys []string, mode string) ([]readResult, int64, error) {
	args := make([]any, argManyKeys+len(keys))
	args[argManyMode], args[argManyBigBytes], args[argManyCollMin] = mode, m.opts.BigKeyBytes, collMin
	args[argManyBudget] = m.readBudget()
	for i, k := range keys {
		args[argManyKeys+i] = k
	}
	v, err := readManyScript.Run(ctx, node, nil, args...).Slice()
	if err != nil {
		return nil, 0, err
	}
	if len(v) == 0 || len(v)%numReplyFields != 0 || len(v) > numReplyFields*len(keys) {
		return nil, 0, fmt.Errorf("readmany: %d reply fields for %d keys", len(v), len(keys))
	}
	out := make([]readResult, len(v)/numReplyFields)
	var bytes int64
	for i := range out {
		f := v[i*numReplyFields : (i+1)*numReplyFields]
		out[i].typ, _ = f[replyType].(string)
		out[i].exp, _ = f[replyExpiry].(int64)
		out[i].payload, _ = f[replyPayload].(string)
		bytes += int64(len(out[i].payload) + len(keys[i]))
	}
	return out, bytes, nil
}

// read returns the state of all keys on node.
func (m *Migrator) read(ctx context.Context, node *redis.Client, keys []string, mode string) ([]readResult, int64, error) {
	var out []readResult
	var bytes int64
	for len(out) < len(keys) {
		rs, n, err := m.readPart(ctx, node, keys[len(out):], mode)
		if err != nil {
			return nil, 0, err
		}
		out, bytes = append(out, rs...), bytes+n
	}
	return out, bytes, nil
}

// readPart returns the state of the first keys on node (at least one).
func (m *Migrator) readPart(ctx context.Context, node *redis.Client, keys []string, mode string) ([]readResult, int64, error) {
	// readmany-0.lua is flagged no-writes: it also runs while the
	// source's writes are paused (CLIENT PAUSE WRITE), read-1.lua not.
	if !m.perKey.Load() && len(keys) > 0 {
		return m.readMany(ctx, node, keys, mode)
	}
	args := m.readArgs(mode)
	for attempt := 0; ; attempt++ {
		pipe := node.Pipeline()
		cmds := make([]*redis.Cmd, len(keys))
		for i, k := range keys {
			cmds[i] = readScript.Queue(ctx, pipe, []string{k}, args...)
		}
		_, err := pipe.Exec(ctx)
		if err != nil && script.IsNoScript(err) && attempt == 0 {
			// The master restarted or failed over and lost its script cache.
			if err := node.ScriptLoad(ctx, readScript.Source()).Err(); err != nil {
				return nil, 0, err
			}
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		out, err := readReplies(cmds, keys)
		if err != nil {
			return nil, 0, err
		}
		var bytes int64
		for i, r := range out {
			bytes += int64(len(r.payload) + len(keys[i]))
		}
		return out, bytes, nil
	}
}

// differing returns the keys whose type, absolute expiry or DUMP digest
// differ between the source and the target (big keys always differ:
// they have no digest), reading both sides until the reads succeed.
func (m *Migrator) differing(ctx context.Context, sh *shard, keys []string) ([]string, error) {
	if m.perKey.Load() {
		return keys, nil // no digest before Redis 7: copy them all
	}
	var src []readResult
	for attempt := 0; ; {
		node, _ := sh.current()
		var err error
		if src, _, err = m.read(ctx, node, keys, modeDigest); err == nil {
			break
		}
		if err := m.readFailed(ctx, sh, err, &attempt); err != nil {
			return nil, err
		}
	}
	var dst []readResult
	err := m.retryWrite(ctx, sh, func() error {
		var err error
		dst, err = m.readTarget(ctx, keys)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := keys[:0:0]
	for i, k := range keys {
		s, d := src[i], dst[i]
		if s.typ != d.typ || s.exp != d.exp || s.payload != d.payload || (s.typ != "none" && s.payload == "") {
			out = append(out, k)
		}
	}
	return out, nil
}

// readTarget reads the digest of keys on the target with readmany-0.lua,
// one call per target master holding some of them.
func (m *Migrator) readTarget(ctx context.Context, keys []string) ([]readResult, error) {
	byNode := map[*redis.Client][]int{}
	for i, k := range keys {
		var n *redis.Client
		switch c := m.dst.(type) {
		case *redis.ClusterClient:
			var err error
			if n, err = c.MasterForKey(ctx, k); err != nil {
				return nil, fmt.Errorf("target: master of %q: %w", k, err)
			}
		case *redis.Client:
			n = c
		default:
			return nil, fmt.Errorf("migrate: target client %T is not supported", m.dst)
		}
		byNode[n] = append(byNode[n], i)
	}
	out := make([]readResult, len(keys))
	for n, idx := range byNode {
		ks := make([]string, len(idx))
		for j, i := range idx {
			ks[j] = keys[i]
		}
		rs, _, err := m.read(ctx, n, ks, modeDigest)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", n.Options().Addr, err)
		}
		for j, i := range idx {
			out[i] = rs[j]
		}
	}
	return out, nil
}

// readReplies decodes read-1.lua replies.
func readReplies(cmds []*redis.Cmd, keys []string) ([]readResult, error) {
	out := make([]readResult, len(keys))
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil {
			return nil, fmt.Errorf("read %q: %w", keys[i], err)
		}
		if len(v) != numReplyFields {
			return nil, fmt.Errorf("read %q: %d reply fields, want %d", keys[i], len(v), numReplyFields)
		}
		out[i].typ, _ = v[replyType].(string)
		out[i].exp, _ = v[replyExpiry].(int64)
		out[i].payload, _ = v[replyPayload].(string)
	}
	return out, nil
}

// write applies a batch to the target: RESTORE ... REPLACE ABSTTL for
// dumped keys, UNLINK for keys gone from the source, a chunked copy for
// big keys and refused payloads. It is idempotent: a batch that failed
// part-way can be written again.
func (m *Migrator) write(ctx context.Context, node *redis.Client, b *batch) error {
	pipe := m.dst.Pipeline()
	type op struct {
		i   int
		cmd redis.Cmder
	}
	var ops []op
	var chunked []int
	for i, r := range b.reads {
		k := b.keys[i]
		switch {
		case r.typ == "none":
			ops = append(ops, op{i, pipe.Unlink(ctx, k)})
		case b.kind == kindPrune:
		case r.payload == "" || m.opts.Structural:
			chunked = append(chunked, i)
		default:
			ttl := int64(0)
			if r.exp > 0 {
				ttl = r.exp
			}
			ops = append(ops, op{i, pipe.Do(ctx, "RESTORE", k, ttl, r.payload, "REPLACE", "ABSTTL")})
		}
	}
	if len(ops) > 0 {
		_, _ = pipe.Exec(ctx)
	}
	var restored, deleted int64
	for _, o := range ops {
		err := o.cmd.Err()
		switch {
		case err == nil && b.reads[o.i].typ == "none":
			deleted++
		case err == nil:
			restored++
		case b.reads[o.i].typ != "none" && isPayloadRefused(err):
			m.c.fallbacks.Add(1)
			chunked = append(chunked, o.i)
		case retry.Classify(err) == retry.Fatal:
			// The target refuses this key for good (a module type it
			// lacks, a key too big for it, ...): name it, go on.
			m.noteFailed(b.keys[o.i], fmt.Errorf("%w: %q (%s): target: %w", ErrUnsupported, b.keys[o.i], b.reads[o.i].typ, err))
		default:
			m.c.restored.Add(restored)
			m.c.deleted.Add(deleted)
			return fmt.Errorf("target: %q: %w", b.keys[o.i], err)
		}
	}
	m.c.restored.Add(restored)
	m.c.deleted.Add(deleted)
	for _, i := range chunked {
		err := m.copyChunked(ctx, node, b.keys[i])
		if errors.Is(err, ErrUnsupported) {
			m.noteFailed(b.keys[i], err)
			continue
		}
		if err != nil {
			return err
		}
		m.c.chunked.Add(1)
	}
	return nil
}

// copyChunked copies one key type-aware, a chunk at a time, into a
// temporary key of the same slot that is then renamed over the key with
// the source's expiry. Memory stays bounded by one chunk whatever the
// key's size.
func (m *Migrator) copyChunked(ctx context.Context, node *redis.Client, key string) error {
	r, _, err := m.read(ctx, node, []string{key}, modeProbe)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if r[0].typ == "none" {
		return m.dst.Unlink(ctx, key).Err()
	}
	tmp := tempKey(key, m.tmpSeq.Add(1))
	n := int64(m.opts.ChunkElements)
	// A temporary key left by a crash expires on its own.
	const tmpTTL = time.Hour
	put := func(cmds func(p redis.Pipeliner)) error {
		p := m.dst.Pipeline()
		cmds(p)
		p.PExpire(ctx, tmp, tmpTTL)
		_, err := p.Exec(ctx)
		return err
	}
	if err := m.dst.Unlink(ctx, tmp).Err(); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	err = nil
	switch r[0].typ {
	case "string":
		size := n * 256
		if err = m.dst.Set(ctx, tmp, "", tmpTTL).Err(); err != nil {
			break
		}
		for off := int64(0); ; off += size {
			var s string
			if s, err = node.GetRange(ctx, key, off, off+size-1).Result(); err != nil || s == "" {
				break
			}
			if err = m.dst.Append(ctx, tmp, s).Err(); err != nil || int64(len(s)) < size {
				break
			}
		}
	case "hash":
		err = scanChunks(ctx, func(c uint64) *redis.ScanCmd { return node.HScan(ctx, key, c, "", n) }, func(kv []string) error {
			return put(func(p redis.Pipeliner) { p.HSet(ctx, tmp, toAny(kv)...) })
		})
	case "set":
		err = scanChunks(ctx, func(c uint64) *redis.ScanCmd { return node.SScan(ctx, key, c, "", n) }, func(ms []string) error {
			return put(func(p redis.Pipeliner) { p.SAdd(ctx, tmp, toAny(ms)...) })
		})
	case "zset":
		err = scanChunks(ctx, func(c uint64) *redis.ScanCmd { return node.ZScan(ctx, key, c, "", n) }, func(ms []string) error {
			args := make([]any, 0, len(ms)+2)
			args = append(args, "ZADD", tmp)
			for i := 0; i+1 < len(ms); i += 2 {
				args = append(args, ms[i+1], ms[i])
			}
			return put(func(p redis.Pipeliner) { p.Do(ctx, args...) })
		})
	case "list":
		for start := int64(0); ; start += n {
			var vs []string
			if vs, err = node.LRange(ctx, key, start, start+n-1).Result(); err != nil || len(vs) == 0 {
				break
			}
			if err = put(func(p redis.Pipeliner) { p.RPush(ctx, tmp, toAny(vs)...) }); err != nil || int64(len(vs)) < n {
				break
			}
		}
	case "stream":
		var lost int64
		if lost, err = m.copyStream(ctx, node, key, tmp, put); err == nil && lost > 0 {
			m.log.Warn("migrate: stream copied without some pending entries (their entries were deleted with XDEL on the source)",
				"key", key, "pending_not_copied", lost)
		}
	default:
		_ = m.dst.Unlink(ctx, tmp).Err()
		return fmt.Errorf("%w: %q is a %s too big for one DUMP (or refused by the target); chunked copy supports string, hash, set, zset, list and stream: raise BigKeyBytes", ErrUnsupported, key, r[0].typ)
	}
	if err != nil {
		_ = m.dst.Unlink(ctx, tmp).Err()
		return fmt.Errorf("chunked copy of %q: %w", key, err)
	}
	// The expiry (or the key itself) may have changed meanwhile: read it
	// again; a sync applies any later change after this one.
	r, _, err = m.read(ctx, node, []string{key}, modeProbe)
	if err != nil {
		_ = m.dst.Unlink(ctx, tmp).Err()
		return fmt.Errorf("source: %w", err)
	}
	tx := m.dst.TxPipeline()
	if r[0].typ == "none" {
		tx.Unlink(ctx, tmp, key)
	} else {
		tx.Rename(ctx, tmp, key)
		if r[0].exp > 0 {
			tx.PExpireAt(ctx, key, time.UnixMilli(r[0].exp))
		} else {
			tx.Persist(ctx, key)
		}
	}
	if _, err := tx.Exec(ctx); err != nil {
		_ = m.dst.Unlink(ctx, tmp).Err()
		return fmt.Errorf("target: chunked copy of %q: %w", key, err)
	}
	return nil
}

func scanChunks(ctx context.Context, next func(uint64) *redis.ScanCmd, put func([]string) error) error {
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		vs, c, err := next(cursor).Result()
		if err != nil {
			return err
		}
		if len(vs) > 0 {
			if err := put(vs); err != nil {
				return err
			}
		}
		if c == 0 {
			return nil
		}
		cursor = c
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
