package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
)

// notifyClasses are the notify-keyspace-events classes sync needs
// besides E: generic, string, list, set, hash, zset, expired, evicted,
// stream ("A" stands for all of them).
const notifyClasses = "g$lshzxet"

// checkNotify reads notify-keyspace-events on every source master. A
// setting that lacks what sync needs is an error saying what to set; a
// refused CONFIG GET is a warning saying how to check (the heartbeat
// then reports missing notifications).
func (m *Migrator) checkNotify(ctx context.Context, shards []*shard) error {
	for _, sh := range shards {
		node, addr := sh.current()
		v, err := node.ConfigGet(ctx, "notify-keyspace-events").Result()
		if err != nil {
			m.log.Warn("migrate: cannot read notify-keyspace-events (CONFIG GET refused); make sure it contains E and A "+
				"(e.g. \"EA\"; on a managed service, in its parameter group) — check with redis-cli CONFIG GET notify-keyspace-events "+
				"or watch redis-cli PSUBSCRIBE '__keyevent@*__:*' while writing a key; the heartbeat reports it if no notification arrives",
				"addr", addr, "err", err)
			continue
		}
		if missing := missingNotify(v["notify-keyspace-events"]); missing != "" {
			return fmt.Errorf("%w on %s: notify-keyspace-events is %q and lacks %q; set it with CONFIG SET notify-keyspace-events EA on every master "+
				"(or KEA; on a managed service, in its parameter group) and run sync again", ErrNotifyOff, addr, v["notify-keyspace-events"], missing)
		}
	}
	return nil
}

// missingNotify returns the classes sync needs that flags lacks.
func missingNotify(flags string) string {
	var miss strings.Builder
	if !strings.Contains(flags, "E") {
		miss.WriteString("E")
	}
	if strings.Contains(flags, "A") {
		return miss.String()
	}
	for _, c := range notifyClasses {
		if !strings.ContainsRune(flags, c) {
			miss.WriteRune(c)
		}
	}
	return miss.String()
}

// watch owns the shard's subscription: it subscribes to keyevent
// notifications on the current master (closing ready once the first
// subscription is confirmed), rewrites the heartbeat key, re-resolves the
// master every tick and re-subscribes after a failover. Every way events
// could have been lost marks a gap.
func (m *Migrator) watch(ctx context.Context, sh *shard, ready chan<- struct{}) {
	var sub struct {
		cancel context.CancelFunc
		node   *redis.Client
		done   chan struct{}
	}
	stop := func() {
		if sub.cancel != nil {
			sub.cancel()
			<-sub.done
			sub.cancel = nil
		}
	}
	defer stop()
	start := func(node *redis.Client) {
		stop()
		sctx, cancel := context.WithCancel(ctx)
		sub.cancel, sub.node, sub.done = cancel, node, make(chan struct{})
		confirmed := make(chan struct{})
		go func() {
			defer close(sub.done)
			m.subscribe(sctx, sh, node, confirmed)
		}()
		select {
		case <-confirmed:
		case <-ctx.Done():
		}
	}
	interval := m.opts.Heartbeat
	if interval < 0 {
		interval = time.Second
	}
	beatWarned := false
	var lastSet time.Time
	beat := func() {
		if m.opts.Heartbeat < 0 {
			return
		}
		n, addr := sh.current()
		now := time.Now()
		_, err := n.SetArgs(ctx, heartbeatKey(sh.hbSlot), strconv.FormatInt(now.UnixMilli(), 10), redis.SetArgs{Get: true}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			if sh.beatsSent.Load() > 0 {
				sh.markGap(m, "heartbeat key vanished (FLUSHALL or FLUSHDB on the source?)")
			}
		case err != nil:
			if ctx.Err() == nil {
				m.noteError(err, "migrate: heartbeat write failed", "shard", sh.label, "addr", addr)
			}
			return
		}
		if sh.beatsSent.Add(1) == 1 {
			lastSet = now
		}
		// No notification of our own heartbeat for 5 intervals: events
		// are not arriving.
		if last := sh.lastBeat.Load(); now.Sub(lastSet) > 5*interval && now.UnixMilli()-last > (5*interval).Milliseconds() {
			sh.markGap(m, "no keyspace notification received for the heartbeat key")
			if !beatWarned {
				beatWarned = true
				m.log.Error("migrate: keyspace notifications do not arrive; set notify-keyspace-events to EA on every source master", "addr", addr)
			}
			lastSet = now
		}
	}
	node, _ := sh.current()
	start(node)
	// The first heartbeat is written before the pass starts, so a
	// FLUSHALL at any later time is seen.
	beat()
	close(ready)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if m.opts.Heartbeat > 0 {
				n, _ := sh.current()
				_ = n.Del(context.WithoutCancel(ctx), heartbeatKey(sh.hbSlot)).Err()
			}
			return
		case <-t.C:
		}
		if err := m.refresh(ctx, sh); err != nil {
			if ctx.Err() == nil {
				m.noteError(err, "migrate: source master not reachable", "shard", sh.label)
			}
			continue
		}
		if n, _ := sh.current(); n != sub.node {
			start(n)
		}
		beat()
	}
}

// subscribe reads keyevent notifications from node until ctx is done.
// Every key goes into the dirty set; a connection error or a
// re-subscription (go-redis reconnects silently) is a gap.
func (m *Migrator) subscribe(ctx context.Context, sh *shard, node *redis.Client, confirmed chan<- struct{}) {
	pattern := fmt.Sprintf("__keyevent@%d__:*", node.Options().DB)
	ps := node.PSubscribe(ctx, pattern)
	defer ps.Close()
	sh.pubsub.Store(ps)
	defer sh.pubsub.CompareAndSwap(ps, nil)
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	hb := heartbeatKey(sh.hbSlot)
	subscribed := false
	loop := retry.Loop{Name: "migrate notifications " + sh.label, Log: m.log}
	_ = loop.Run(ctx, func(ctx context.Context) error {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			m.c.errors.Add(1)
			sh.markGap(m, "subscription lost: "+err.Error())
			return err
		}
		switch v := msg.(type) {
		case *redis.Subscription:
			if v.Kind != "psubscribe" {
				return nil
			}
			if subscribed {
				sh.markGap(m, "re-subscribed after a disconnect")
			} else {
				subscribed = true
				close(confirmed)
			}
		case *redis.Pong:
			sh.barrier.Store(v.Payload)
		case *redis.Message:
			m.c.events.Add(1)
			if v.Payload == hb {
				sh.lastBeat.Store(time.Now().UnixMilli())
				return nil
			}
			if reserved(v.Payload) {
				return nil
			}
			if !sh.dirty.add(v.Payload, time.Now()) {
				sh.markGap(m, "dirty set full (MaxDirty)")
				return nil
			}
			sh.poke()
		}
		return nil
	})
}
