package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
	"golang.org/x/sync/semaphore"
)

// Errors.
var (
	// ErrNotifyOff is returned by Sync when a source master's
	// notify-keyspace-events setting lacks what sync needs; the message
	// says what to set.
	ErrNotifyOff = errors.New("migrate: keyspace notifications are off")
	// ErrUnsupported is matched by the error of a key the migrator cannot
	// copy (a stream too big for one DUMP, or whose payload the target
	// refuses); the key is named and every other key is still copied.
	ErrUnsupported = errors.New("migrate: key cannot be copied")
	// ErrTopology is returned when the source is resharded: a slot is
	// marked MIGRATING or IMPORTING on a source master (at the start or
	// during a run), or the slots moved between masters. Run the migrator
	// again once the reshard is over: it compares and repairs.
	ErrTopology = errors.New("migrate: the source cluster is being resharded")
)

// Options tune a Migrator. The zero value is fit for most deployments.
type Options struct {
	// ScanCount is the COUNT hint of each SCAN on a source master. Zero
	// means 1000.
	ScanCount int
	// ReadBatch is the number of keys read in one pipeline from a source
	// master (and written in one pipeline to the target). Zero means 256.
	ReadBatch int
	// Pipelines is the number of batches of one source master in flight
	// at once (each read from the source, then written to the target):
	// the next SCAN and reads go on while earlier batches are written.
	// Zero means 4.
	Pipelines int
	// BigKeyBytes: a string longer than this, or a collection whose
	// MEMORY USAGE is larger, is copied in chunks instead of one DUMP.
	// Zero means 256 KiB.
	BigKeyBytes int64
	// ChunkElements is the number of elements per chunk of a big
	// collection (and ChunkElements*256 bytes per chunk of a big
	// string). Zero means 1000.
	ChunkElements int
	// MaxInflightBytes bounds the payload bytes read from the source and
	// not yet written to the target, over all masters. Zero means 64 MiB.
	MaxInflightBytes int64
	// MaxDirty bounds the dirty set of one source master (keys changed
	// and not yet applied). Beyond it the set is dropped and the master
	// rescanned. Zero means 1,000,000 keys.
	MaxDirty int
	// Heartbeat is how often Sync rewrites a reserved heartbeat key on
	// every source master and checks topology. Zero means 1 s; negative
	// disables the heartbeat key (a FLUSHALL is then not detected).
	Heartbeat time.Duration
	// Restart ignores (and overwrites) a checkpoint left by an earlier
	// run. Zero means resume from it.
	Restart bool
	// Structural copies every key type-aware (SCAN family, LRANGE)
	// instead of DUMP/RESTORE. Zero means DUMP/RESTORE, falling back to
	// type-aware copy per key when the target refuses a payload.
	Structural bool
	// Log receives warnings and errors. Nil means slog.Default().
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.ScanCount <= 0 {
		o.ScanCount = 1000
	}
	if o.ReadBatch <= 0 {
		o.ReadBatch = 256
	}
	if o.Pipelines <= 0 {
		o.Pipelines = 4
	}
	if o.BigKeyBytes <= 0 {
		o.BigKeyBytes = 256 << 10
	}
	if o.ChunkElements <= 0 {
		o.ChunkElements = 1000
	}
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = 64 << 20
	}
	if o.MaxDirty <= 0 {
		o.MaxDirty = 1_000_000
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Phase is where a run is.
type Phase string

// Phases.
const (
	PhaseIdle Phase = "idle"
	PhaseCopy Phase = "copy" // first pass over the source
	PhaseSync Phase = "sync" // first pass done, following changes
	PhaseDone Phase = "done"
)

// Migrator copies src to dst. Create it with New; run Copy or Sync once.
// Status is safe for concurrent use while a run is going on.
type Migrator struct {
	src, dst  redis.UniversalClient
	opts      Options
	log       *slog.Logger
	mem       *semaphore.Weighted
	tmpSeq    atomic.Int64
	perKey    atomic.Bool  // read key by key (the batch script was refused)
	functions atomic.Int64 // Redis Functions libraries copied
	c         counters

	mu      sync.Mutex
	phase   Phase
	started time.Time
	shards  []*shard
	failed  []string
	lastErr string
	rate    rateSample
	logged  map[string]*logState
}

type counters struct {
	scanned, restored, deleted, chunked, fallbacks, errors, gaps, events atomic.Int64
	compared                                                             atomic.Int64 // keys found equal by a compare pass
}

type rateSample struct {
	at     time.Time
	n      int64
	perSec float64
}

// New returns a Migrator from src to dst. Neither client is closed by it.
// Keys under ReservedPrefix are never copied.
func New(src, dst redis.UniversalClient, opts Options) *Migrator {
	opts = opts.withDefaults()
	return &Migrator{src: src, dst: dst, opts: opts, log: opts.Log, phase: PhaseIdle,
		mem: semaphore.NewWeighted(opts.MaxInflightBytes)}
}

// Summary is the outcome of Copy.
type Summary struct {
	// Scanned counts keys returned by SCAN (a key may be seen twice).
	Scanned int64
	// Restored counts keys written with RESTORE; Chunked those copied in
	// chunks (big keys, refused payloads); Deleted keys that vanished from
	// the source before they were read and were removed from the target.
	Restored, Chunked, Deleted int64
	// Fallbacks counts keys whose payload the target refused and that
	// were copied type-aware instead.
	Fallbacks int64
	// Resumed is the number of source masters that continued from a
	// checkpoint.
	Resumed int
	// Functions is the number of Redis Functions libraries copied.
	Functions int
	// Failed names keys that could not be copied (at most 100).
	Failed   []string
	Duration time.Duration
}

// KeysPerSecond is the copy rate over the whole run.
func (s Summary) KeysPerSecond() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Restored+s.Chunked+s.Deleted) / s.Duration.Seconds()
}

func (s Summary) String() string {
	return fmt.Sprintf("copied %d keys (%d restored, %d in chunks, %d deleted, %d fallbacks) in %v: %.0f keys/s, %d failed",
		s.Restored+s.Chunked+s.Deleted, s.Restored, s.Chunked, s.Deleted, s.Fallbacks, s.Duration.Round(time.Millisecond), s.KeysPerSecond(), len(s.Failed))
}

// Copy makes one pass over every source master and returns. A pass that
// was interrupted (even by kill -9) continues from its checkpoint unless
// Options.Restart is set; a completed pass removes its checkpoint. The
// error names the keys that could not be copied (matching
// ErrUnsupported), or what stopped the pass.
func (m *Migrator) Copy(ctx context.Context) (Summary, error) {
	start := time.Now()
	resumed, err := m.run(ctx, false)
	s := Summary{Scanned: m.c.scanned.Load(), Restored: m.c.restored.Load(), Chunked: m.c.chunked.Load(),
		Deleted: m.c.deleted.Load(), Fallbacks: m.c.fallbacks.Load(), Resumed: resumed, Functions: int(m.functions.Load()),
		Duration: time.Since(start)}
	m.mu.Lock()
	s.Failed = append([]string(nil), m.failed...)
	m.mu.Unlock()
	if err != nil {
		return s, err
	}
	if len(s.Failed) > 0 {
		return s, fmt.Errorf("%w: %d keys, first %q (see the log)", ErrUnsupported, len(s.Failed), s.Failed[0])
	}
	if err := m.dst.Del(ctx, stateKey).Err(); err != nil {
		return s, fmt.Errorf("migrate: remove checkpoint: %w", err)
	}
	return s, nil
}

// Sync copies every source master, then follows live changes until ctx
// is done, and returns ctx's error wrapped (or what stopped it). Source
// masters must publish keyspace notifications (notify-keyspace-events
// with E and A); Sync says what to set when they do not.
func (m *Migrator) Sync(ctx context.Context) error {
	_, err := m.run(ctx, true)
	return err
}

func (m *Migrator) run(ctx context.Context, follow bool) (int, error) {
	m.mu.Lock()
	if m.phase != PhaseIdle {
		m.mu.Unlock()
		return 0, errors.New("migrate: a Migrator runs once")
	}
	m.phase, m.started = PhaseCopy, time.Now()
	m.mu.Unlock()
	defer m.setPhase(PhaseDone)

	infos, err := discover(ctx, m.src)
	if err != nil {
		return 0, err
	}
	saved, err := loadState(ctx, m.dst)
	if err != nil {
		return 0, err
	}
	cc, isCluster := m.src.(*redis.ClusterClient)
	if isCluster {
		if err := m.checkLayout(ctx, cc, nil); err != nil {
			return 0, err
		}
	}
	shards := make([]*shard, len(infos))
	resumed := 0
	for i, in := range infos {
		sh := newShard(in, m.opts.MaxDirty)
		sh.follow = follow
		if pos, ok := saved[in.label]; ok && !m.opts.Restart {
			switch {
			case follow:
				// Changes made while no one was listening are unknown:
				// compare every key (copying only those that differ),
				// then remove what the source no longer has.
				sh.mode, sh.prune = passCompare, true
				resumed++
			case pos.RunID != in.runID:
				m.log.Warn("migrate: source master restarted or failed over since the checkpoint; comparing it again", "shard", in.label)
				sh.mode = passCompare
			default:
				sh.cursor, sh.done = pos.Cursor, pos.Done
				sh.scanned.Store(pos.Scanned)
				if pos.Compare {
					sh.mode = passCompare
				}
				resumed++
			}
		}
		shards[i] = sh
	}
	m.mu.Lock()
	m.shards = shards
	m.mu.Unlock()
	if follow {
		if err := m.checkNotify(ctx, shards); err != nil {
			return resumed, err
		}
	}
	if err := m.loadScript(ctx, shards); err != nil {
		return resumed, err
	}
	libs, err := m.copyFunctions(ctx, shards)
	if err != nil {
		return resumed, err
	}
	m.functions.Store(int64(libs))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg, shardsWG sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for _, sh := range shards {
		shardsWG.Go(func() {
			if err := m.runShard(ctx, sh, follow); err != nil {
				errOnce.Do(func() { firstErr = err; cancel(err) })
			}
		})
	}
	if follow {
		wg.Go(func() { m.watchCopied(ctx, shards) })
	}
	layoutDone := make(chan struct{})
	if isCluster {
		wg.Go(func() {
			if err := m.watchLayout(ctx, cc, shards, layoutDone); err != nil {
				errOnce.Do(func() { firstErr = err; cancel(err) })
			}
		})
	}
	shardsWG.Wait()
	close(layoutDone)
	wg.Wait()
	if firstErr != nil {
		return resumed, firstErr
	}
	if isCluster && !follow {
		// A reshard that began and ended between two looks.
		if err := m.checkLayout(ctx, cc, shards); err != nil {
			return resumed, err
		}
	}
	if err := ctx.Err(); err != nil {
		return resumed, fmt.Errorf("migrate: %w", err)
	}
	return resumed, nil
}

// watchCopied moves the phase to sync once every shard has made its first
// pass.
func (m *Migrator) watchCopied(ctx context.Context, shards []*shard) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		all := true
		for _, sh := range shards {
			all = all && sh.copied.Load()
		}
		if all {
			m.setPhase(PhaseSync)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Migrator) setPhase(p Phase) {
	m.mu.Lock()
	m.phase = p
	m.mu.Unlock()
}

// noteError counts and logs an error the migrator retries; the same
// message is logged at most once every 10 s, with the count in between.
func (m *Migrator) noteError(err error, msg string, args ...any) {
	m.c.errors.Add(1)
	m.mu.Lock()
	m.lastErr = err.Error()
	if m.logged == nil {
		m.logged = map[string]*logState{}
	}
	ls := m.logged[msg]
	if ls == nil {
		ls = &logState{}
		m.logged[msg] = ls
	}
	now := time.Now()
	if !ls.at.IsZero() && now.Sub(ls.at) < 10*time.Second {
		ls.quiet++
		m.mu.Unlock()
		return
	}
	quiet := ls.quiet
	ls.at, ls.quiet = now, 0
	m.mu.Unlock()
	m.log.Warn(msg, append(args, "err", err, "class", retry.Classify(err).String(), "not_logged", quiet)...)
}

type logState struct {
	at    time.Time
	quiet int
}

func (m *Migrator) noteFailed(key string, err error) {
	m.c.errors.Add(1)
	m.mu.Lock()
	if len(m.failed) < 100 {
		m.failed = append(m.failed, key)
	}
	m.lastErr = err.Error()
	n := len(m.failed)
	m.mu.Unlock()
	if n < 10 {
		m.log.Error("migrate: key not copied", "key", key, "err", err)
	}
}

// Status is a snapshot of a run, for a status page and metrics.
type Status struct {
	Phase   Phase     `json:"phase"`
	Started time.Time `json:"started"`
	// Scanned, Restored, Chunked, Deleted, Fallbacks: as in Summary,
	// since the start (dirty keys applied count too).
	Scanned   int64 `json:"scanned"`
	Restored  int64 `json:"restored"`
	Chunked   int64 `json:"chunked"`
	Deleted   int64 `json:"deleted"`
	Fallbacks int64 `json:"fallbacks"`
	// Applied = Restored + Chunked + Deleted.
	Applied int64 `json:"applied"`
	// Compared counts keys a compare pass (after a restart or a gap)
	// found equal on both sides and did not copy.
	Compared int64 `json:"compared"`
	// KeysPerSecond is the applied rate over the last second or more.
	KeysPerSecond float64 `json:"keys_per_second"`
	// Errors counts errors (each logged); LastError is the latest.
	Errors    int64  `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// Failed names keys that could not be copied.
	Failed []string `json:"failed,omitempty"`
	// Events counts keyspace notifications received; Gaps the
	// notification gaps detected (each rescans one master).
	Events int64 `json:"events"`
	Gaps   int64 `json:"gaps"`
	// Dirty is the number of changed keys not yet applied.
	Dirty int `json:"dirty"`
	// LagSeconds is the age of the oldest change not yet applied (0 when
	// none is pending).
	LagSeconds float64 `json:"lag_seconds"`
	// Total is the sum of the source masters' DBSIZE when their pass
	// started (for an ETA); Shards has one entry per source master.
	Total  int64         `json:"total"`
	Shards []ShardStatus `json:"shards"`
}

// ShardStatus is one source master.
type ShardStatus struct {
	// Label names the master's slots ("slots 0-5460") or "main".
	Label string `json:"label"`
	Addr  string `json:"addr"`
	// Scanned and Total are the keys scanned in the current pass and the
	// DBSIZE when it started.
	Scanned int64 `json:"scanned"`
	Total   int64 `json:"total"`
	// Copied is true once the first pass is over.
	Copied bool `json:"copied"`
	// Scanning is true during a pass (first or rescan).
	Scanning bool  `json:"scanning"`
	Rescans  int64 `json:"rescans"`
	Dirty    int   `json:"dirty"`
	// LastGap says why the last rescan happened.
	LastGap string `json:"last_gap,omitempty"`
}

// Status returns a snapshot. Safe for concurrent use.
func (m *Migrator) Status() Status {
	now := time.Now()
	s := Status{Scanned: m.c.scanned.Load(), Restored: m.c.restored.Load(), Chunked: m.c.chunked.Load(),
		Deleted: m.c.deleted.Load(), Fallbacks: m.c.fallbacks.Load(), Errors: m.c.errors.Load(),
		Events: m.c.events.Load(), Gaps: m.c.gaps.Load(), Compared: m.c.compared.Load()}
	s.Applied = s.Restored + s.Chunked + s.Deleted
	m.mu.Lock()
	s.Phase, s.Started, s.LastError = m.phase, m.started, m.lastErr
	s.Failed = append([]string(nil), m.failed...)
	shards := m.shards
	if m.rate.at.IsZero() {
		m.rate = rateSample{at: m.started, n: 0}
	}
	if d := now.Sub(m.rate.at); d >= time.Second {
		m.rate.perSec = float64(s.Applied-m.rate.n) / d.Seconds()
		m.rate.at, m.rate.n = now, s.Applied
	} else if m.rate.perSec == 0 && d > 0 {
		m.rate.perSec = float64(s.Applied-m.rate.n) / d.Seconds()
	}
	s.KeysPerSecond = m.rate.perSec
	m.mu.Unlock()
	var oldest time.Time
	for _, sh := range shards {
		st := sh.status()
		s.Dirty += st.Dirty
		s.Total += st.Total
		s.Shards = append(s.Shards, st)
		if o := sh.oldestPending(); !o.IsZero() && (oldest.IsZero() || o.Before(oldest)) {
			oldest = o
		}
	}
	if !oldest.IsZero() {
		s.LagSeconds = now.Sub(oldest).Seconds()
	}
	sort.Slice(s.Shards, func(i, j int) bool { return s.Shards[i].Label < s.Shards[j].Label })
	return s
}

// isPayloadRefused reports whether a RESTORE error means the target
// cannot read the source's DUMP format (another Redis version).
func isPayloadRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "payload version") || strings.Contains(msg, "Bad data format")
}
