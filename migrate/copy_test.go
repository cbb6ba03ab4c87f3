package migrate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestCopySingleToCluster(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newCluster(t, 3, -1)
	seed(t, src, "k", 5000)
	// A key the target already holds with other data is replaced; a key
	// that expires before the copy is not resurrected.
	ctx := context.Background()
	dst.Set(ctx, "k:0", "stale", 0)
	src.Set(ctx, "gone", "x", time.Millisecond)
	m := New(src, dst, Options{ReadBatch: 100})
	sum, err := m.Copy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Restored < 4500 || sum.Failed != nil {
		t.Fatalf("summary: %v", sum)
	}
	t.Log(sum)
	mustVerify(t, src, dst)
	if n, _ := dst.Exists(ctx, stateKey).Result(); n != 0 {
		t.Error("checkpoint left after a complete copy")
	}
	if n, _ := dst.Exists(ctx, "gone").Result(); n != 0 {
		t.Error("expired key resurrected")
	}
}

func TestCopyClusterToFourMasters(t *testing.T) {
	_, src := newCluster(t, 3, -1)
	_, dst := newCluster(t, 4, -1)
	seed(t, src, "k", 6000)
	sum, err := New(src, dst, Options{}).Copy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum)
	mustVerify(t, src, dst)
}

// TestVerifyFindsDifferences checks that verify is not blind: each kind
// of difference is reported.
func TestVerifyFindsDifferences(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newCluster(t, 3, -1)
	seed(t, src, "k", 200)
	ctx := context.Background()
	if _, err := New(src, dst, Options{}).Copy(ctx); err != nil {
		t.Fatal(err)
	}
	src.Set(ctx, "only-src", "1", 0)
	dst.Set(ctx, "only-dst", "1", 0)
	dst.Set(ctx, "k:1", "changed", 0)
	dst.Del(ctx, "k:7")
	dst.HSet(ctx, "k:7", "f0", "other") // hash on both, other contents
	if exp := src.PExpireTime(ctx, "k:7").Val(); exp > 0 {
		dst.PExpireAt(ctx, "k:7", time.UnixMilli(int64(exp/time.Millisecond)))
	}
	dst.Del(ctx, "k:8")
	dst.Set(ctx, "k:8", "x", 0) // set vs string
	src.PExpireAt(ctx, "k:2", time.Now().Add(time.Hour))
	dst.PExpireAt(ctx, "k:2", time.Now().Add(time.Hour+time.Second))
	rep, err := Verify(ctx, src, dst, VerifyOptions{KeysPerSecond: -1, Rechecks: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Missing: 1, Extra: 1, Value: 2, Type: 1, TTL: 1}
	if rep.Missing != want.Missing || rep.Extra != want.Extra || rep.Value != want.Value || rep.Type != want.Type || rep.TTL != want.TTL {
		t.Fatalf("report %v, want missing 1 extra 1 value 2 type 1 ttl 1\n%v", rep, rep.Differences)
	}
	rep, err = Verify(ctx, src, dst, VerifyOptions{KeysPerSecond: -1, Rechecks: 1, TTLTolerance: 2 * time.Second})
	if err != nil || rep.TTL != 0 {
		t.Fatalf("tolerance not applied: %v %v", rep, err)
	}
}

// TestVerifyChangingKey: a key a live writer keeps changing on the source
// (ahead of a sync) is counted as changing, not as a value difference,
// so a verify during live writes is not failed by one hot key; a key
// that differs and stays put is still a difference.
func TestVerifyChangingKey(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newSingle(t)
	seed(t, src, "k", 50)
	ctx := context.Background()
	if _, err := New(src, dst, Options{}).Copy(ctx); err != nil {
		t.Fatal(err)
	}
	dst.Set(ctx, "k:1", "stale", 0)
	src.Set(ctx, "hot", "0", 0)
	dst.Set(ctx, "hot", "-1", 0)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wctx.Err() == nil {
			src.Incr(wctx, "hot")
		}
	}()
	rep, err := Verify(ctx, src, dst, VerifyOptions{KeysPerSecond: -1, Rechecks: 2})
	stop()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if rep.Value != 1 || len(rep.Differences) != 1 || rep.Differences[0].Key != "k:1" || rep.Changing != 1 {
		t.Fatalf("report %v, want the one value difference k:1 and hot changing\n%v", rep, rep.Differences)
	}
	if !strings.Contains(rep.String(), "1 keys changing") {
		t.Errorf("String() = %q, want the changing count", rep.String())
	}
}

// TestRestoreRefusedPayloadFallsBack sends a DUMP payload with a version
// the server does not know, checks the real error is recognised, and
// that a structural copy gives the same data.
func TestRestoreRefusedPayloadFallsBack(t *testing.T) {
	_, src := newSingle(t)
	ctx := context.Background()
	src.Set(ctx, "s", "v", 0)
	p, err := src.Dump(ctx, "s").Result()
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(p)
	b[len(b)-10] = 0xff // RDB version (2 bytes little-endian before the CRC64)
	b[len(b)-9] = 0x7f
	err = src.Do(ctx, "RESTORE", "s2", 0, string(b), "REPLACE").Err()
	if err == nil || !isPayloadRefused(err) {
		t.Fatalf("RESTORE of a future payload: %v, not recognised as refused", err)
	}
	_, dst := newCluster(t, 3, -1)
	seed(t, src, "k", 500)
	sum, err := New(src, dst, Options{Structural: true}).Copy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Chunked < 400 {
		t.Fatalf("structural copy: %v", sum)
	}
	mustVerify(t, src, dst)
}

// TestStreamInChunks copies a stream type-aware, in chunks: entries with
// their ids, the stream's ids and counters, consumer groups with their
// consumers and pending entries (owner, delivery count); a pending entry
// whose stream entry was deleted is the one thing not copied.
func TestStreamInChunks(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newCluster(t, 3, -1)
	ctx := context.Background()
	const key = "events"
	for i := range 250 {
		src.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"n", i, "kind", "k" + fmt.Sprint(i%3)}})
	}
	ids, _ := src.XRangeN(ctx, key, "-", "+", 10).Result()
	src.XGroupCreate(ctx, key, "g1", "0")
	src.XGroupCreate(ctx, key, "g2", "$")
	src.XGroupCreateConsumer(ctx, key, "g2", "idle")
	src.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "c1", Streams: []string{key, ">"}, Count: 5})
	src.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "c2", Streams: []string{key, ">"}, Count: 3})
	src.XAck(ctx, key, "g1", ids[0].ID)
	src.XClaim(ctx, &redis.XClaimArgs{Stream: key, Group: "g1", Consumer: "c2", Messages: []string{ids[1].ID}})
	src.XDel(ctx, key, ids[2].ID, ids[9].ID) // ids[2] is pending: that PEL entry cannot be copied
	src.Set(ctx, "plain", "1", 0)
	sum, err := New(src, dst, Options{Structural: true, ChunkElements: 40}).Copy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Chunked != 2 {
		t.Errorf("chunked %d keys, want 2", sum.Chunked)
	}
	eq := func(what string, a, b any) {
		t.Helper()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: source %v, target %v", what, a, b)
		}
	}
	sr, _ := src.XRange(ctx, key, "-", "+").Result()
	tr, err := dst.XRange(ctx, key, "-", "+").Result()
	if err != nil || len(tr) != 248 {
		t.Fatalf("target has %d entries (%v), want 248", len(tr), err)
	}
	eq("entries", sr, tr)
	si, _ := src.XInfoStream(ctx, key).Result()
	ti, _ := dst.XInfoStream(ctx, key).Result()
	eq("ids and counters", []any{si.LastGeneratedID, si.EntriesAdded, si.MaxDeletedEntryID, si.Length, si.Groups},
		[]any{ti.LastGeneratedID, ti.EntriesAdded, ti.MaxDeletedEntryID, ti.Length, ti.Groups})
	sg, _ := src.XInfoGroups(ctx, key).Result()
	tg, _ := dst.XInfoGroups(ctx, key).Result()
	sg[0].Pending-- // the pending entry whose stream entry was deleted
	eq("groups", sg, tg)
	for _, g := range []string{"g1", "g2"} {
		sc, _ := src.XInfoConsumers(ctx, key, g).Result()
		tc, _ := dst.XInfoConsumers(ctx, key, g).Result()
		names := func(cs []redis.XInfoConsumer, lost string) (out []string) {
			for _, c := range cs {
				if c.Name == lost {
					c.Pending-- // held the deleted entry
				}
				out = append(out, fmt.Sprint(c.Name, "/", c.Pending))
			}
			return out
		}
		eq("consumers of "+g, names(sc, "c1"), names(tc, ""))
	}
	pend := func(c redis.UniversalClient) (out []string) {
		ps, _ := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: "g1", Start: "-", End: "+", Count: 100}).Result()
		for _, p := range ps {
			if p.ID != ids[2].ID {
				out = append(out, fmt.Sprint(p.ID, "/", p.Consumer, "/", p.RetryCount))
			}
		}
		return out
	}
	eq("pending entries of g1", pend(src), pend(dst))
	rep := mustVerify(t, src, dst)
	t.Log(rep)
}

// TestBigKeysInChunks copies keys above BigKeyBytes type-aware in chunks
// (threshold lowered so the keys stay small enough for a quick test).
func TestBigKeysInChunks(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newCluster(t, 3, -1)
	ctx := context.Background()
	fillBig(t, src, 5000)
	src.PExpireAt(ctx, "big:hash", time.Now().Add(time.Hour))
	sum, err := New(src, dst, Options{BigKeyBytes: 4096, ChunkElements: 300}).Copy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Chunked != 5 {
		t.Fatalf("chunked %d keys, want 5: %v", sum.Chunked, sum)
	}
	// Compare the contents in full, not only the lengths.
	rep, err := Verify(ctx, src, dst, VerifyOptions{KeysPerSecond: -1, BigKeyBytes: 1 << 30})
	if err != nil || !rep.Clean() {
		t.Fatalf("verify: %v %v %v", rep, rep.Differences, err)
	}
	dst.LSet(ctx, "big:list", 4321, "changed")
	rep, _ = Verify(ctx, src, dst, VerifyOptions{KeysPerSecond: -1, BigKeyBytes: 1 << 30, Rechecks: 1})
	if rep.Value != 1 {
		t.Fatalf("a changed element of a big list is not seen: %v", rep)
	}
}

func fillBig(tb testing.TB, c redis.UniversalClient, n int) {
	tb.Helper()
	ctx := context.Background()
	const step = 1000
	for lo := 0; lo < n; lo += step {
		p := c.Pipeline()
		for i := lo; i < min(lo+step, n); i++ {
			p.HSet(ctx, "big:hash", fmt.Sprint("field-", i), strings.Repeat("v", 40))
			p.SAdd(ctx, "big:set", fmt.Sprint("member-", i))
			p.ZAdd(ctx, "big:zset", redis.Z{Score: float64(i) / 7, Member: fmt.Sprint("member-", i)})
			p.RPush(ctx, "big:list", fmt.Sprint("item-", i))
			p.Append(ctx, "big:string", strings.Repeat("s", 64))
		}
		if _, err := p.Exec(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestTargetRefusalNamed: a target that refuses writes for good (here:
// out of memory under noeviction) ends the copy with its error, instead
// of retrying forever.
func TestTargetRefusalNamed(t *testing.T) {
	_, src := newSingle(t)
	dstSrv := redistest.NewSingle(t, redisproc.ServerOptions{Args: []string{"maxmemory 3mb", "maxmemory-policy noeviction"}})
	dst := dstSrv.Client()
	defer dst.Close()
	seed(t, src, "k", 20000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := New(src, dst, Options{}).Copy(ctx)
	if err == nil || !strings.Contains(err.Error(), "OOM") || ctx.Err() != nil {
		t.Fatalf("err %v, failed %d", err, len(sum.Failed))
	}
	t.Log(err)
}

// TestCopyFunctions copies a Redis Functions library from a single node
// to every master of a cluster: FCALL works on the target for keys of
// each master.
func TestCopyFunctions(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newCluster(t, 3, -1)
	ctx := context.Background()
	const lib = "#!lua name=rkmig\nredis.register_function('rkmig_get', function(keys) return redis.call('GET', keys[1]) end)"
	if err := src.FunctionLoad(ctx, lib).Err(); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", "d", "e", "f"}
	for _, k := range keys {
		src.Set(ctx, k, "v-"+k, 0)
	}
	sum, err := New(src, dst, Options{}).Copy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Functions != 1 {
		t.Errorf("summary says %d libraries copied, want 1", sum.Functions)
	}
	for _, k := range keys {
		got, err := dst.FCall(ctx, "rkmig_get", []string{k}).Text()
		if err != nil || got != "v-"+k {
			t.Fatalf("FCALL rkmig_get %s on the target: %q, %v", k, got, err)
		}
	}
	// A second run replaces the library instead of failing on it.
	if _, err := New(src, dst, Options{}).Copy(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCopyReadsInParts copies a batch whose payloads exceed one read's
// byte budget (60 strings of 200 KiB, just under BigKeyBytes, against a
// 4 MiB budget): it is read and written in parts, and every key arrives.
func TestCopyReadsInParts(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newCluster(t, 3, -1)
	ctx := context.Background()
	val := strings.Repeat("p", 200<<10)
	for i := range 60 {
		src.Set(ctx, fmt.Sprint("part:", i), val+fmt.Sprint(i), 0)
	}
	sum, err := New(src, dst, Options{}).Copy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Restored != 60 || sum.Chunked != 0 {
		t.Fatalf("%v, want 60 restored, none in chunks", sum)
	}
	mustVerify(t, src, dst)
}
