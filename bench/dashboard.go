package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/dashboard"
)

func init() { register("dashboard", benchDashboard) }

const (
	dashJobs   = 100_000
	dashRounds = 3  // alternating rounds; the median round counts
	dashReqs   = 40 // requests per side and round
)

// benchDashboard: the first page of the completed list of a 100,000-job
// queue, through rediskit's dashboard API and through bull-board's API
// (express, @bull-board/api 9.10) on the same Redis in the same run; and a
// search by data substring (bull-board has no search: ours alone).
func benchDashboard(ctx context.Context, cfg Config, emit func(Result)) error {
	srv, err := cfg.Env.Single(ctx)
	if err != nil {
		return err
	}
	addr := srv.Addr()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 20})
	defer rdb.Close()
	rdb.FlushAll(ctx)
	defer rdb.FlushAll(ctx)
	if err := fillCompleted(ctx, rdb, "bull", "dash", dashJobs); err != nil {
		return err
	}
	d, err := dashboard.New(rdb, dashboard.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer d.Close()
	ours := httptest.NewServer(d)
	defer ours.Close()
	boardURL, stop, err := startBullBoard(ctx, cfg, addr, "bull", "dash")
	if err != nil {
		return fmt.Errorf("bull-board: %w", err)
	}
	defer stop()

	oursPage := ours.URL + "/api/jobs?queue=bull:dash&state=completed&start=0&count=20"
	peerPage := boardURL + "/api/queues?activeQueue=dash&status=completed&page=1&jobsPerPage=20"
	oursSearch := ours.URL + "/api/search?queue=bull:dash&field=data&state=completed&text=needle-"
	for _, u := range []string{oursPage, peerPage, oursSearch} {
		if err := checkGet(ctx, u); err != nil {
			return err
		}
	}
	var o50, o99, p50, p99, s50, s99 []time.Duration
	for range dashRounds {
		a, b, err := timeGets(ctx, oursPage, dashReqs)
		if err != nil {
			return err
		}
		o50, o99 = append(o50, a), append(o99, b)
		a, b, err = timeGets(ctx, peerPage, dashReqs)
		if err != nil {
			return err
		}
		p50, p99 = append(p50, a), append(p99, b)
		a, b, err = timeGets(ctx, oursSearch, dashReqs/4)
		if err != nil {
			return err
		}
		s50, s99 = append(s50, a), append(s99, b)
	}
	const peer = "bull-board 9.10 API (node, express)"
	emit(Latency("dashboard", "first page of completed, 100k-job queue, p50", msOf(median(o50)), msOf(median(p50)), peer, "ms"))
	emit(Latency("dashboard", "first page of completed, 100k-job queue, p99", msOf(median(o99)), msOf(median(p99)), peer, "ms"))
	emit(Latency("dashboard", "search data substring, 5000 jobs examined per request, p50", msOf(median(s50)), 0, "none (bull-board has no search)", "ms"))
	emit(Latency("dashboard", "search data substring, 5000 jobs examined per request, p99", msOf(median(s99)), 0, "none (bull-board has no search)", "ms"))
	return nil
}

// fillCompleted writes n completed jobs in BullMQ's layout (hash and
// completed zset); one in 1000 has "needle-" in its data.
func fillCompleted(ctx context.Context, rdb *redis.Client, prefix, name string, n int) error {
	base := prefix + ":" + name + ":"
	now := time.Now().UnixMilli()
	if err := rdb.HSet(ctx, base+"meta", "opts.maxLenEvents", 10000, "version", "bullmq:6.7.0").Err(); err != nil {
		return err
	}
	for i := 0; i < n; i += 1000 {
		p := rdb.Pipeline()
		for k := i; k < min(n, i+1000); k++ {
			id := strconv.Itoa(k + 1)
			cust := "c" + id
			if k%1000 == 0 {
				cust = "needle-" + id
			}
			ts := now - int64(n-k)
			p.HSet(ctx, base+id, "name", "charge", "data", `{"order":`+id+`,"customer":"`+cust+`","amount":1299}`,
				"opts", `{"attempts":3}`, "timestamp", ts, "processedOn", ts, "finishedOn", ts+1, "atm", 1,
				"returnvalue", `{"ok":true}`)
			p.ZAdd(ctx, base+"completed", redis.Z{Score: float64(ts + 1), Member: id})
		}
		if _, err := p.Exec(ctx); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	return rdb.Set(ctx, base+"id", n, 0).Err()
}

// startBullBoard runs node-board/board.js and returns its base URL.
func startBullBoard(ctx context.Context, cfg Config, addr, prefix, queue string) (string, func(), error) {
	dir, _ := filepath.Abs("node-board")
	if _, err := exec.LookPath("node"); err != nil {
		return "", nil, fmt.Errorf("node is not installed: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@bull-board", "api")); err != nil {
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("npm ci: %w\n%s", err, out)
		}
	}
	cmd := exec.Command("node", "board.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDIS_ADDR="+addr, "PREFIX="+prefix, "QUEUE="+queue)
	cmd.Stderr = cfg.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("no port line: %w", err)
	}
	var r struct{ Port int }
	if err := json.Unmarshal([]byte(line), &r); err != nil || r.Port == 0 {
		stop()
		return "", nil, fmt.Errorf("port line %q: %v", line, err)
	}
	return "http://127.0.0.1:" + strconv.Itoa(r.Port), stop, nil
}

func checkGet(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "charge") {
		return fmt.Errorf("GET %s: %d %.300s", url, resp.StatusCode, b)
	}
	return nil
}

// timeGets sends n GETs one after the other (after 3 unmeasured ones)
// and returns the p50 and p99 latency.
func timeGets(ctx context.Context, url string, n int) (p50, p99 time.Duration, err error) {
	var ds []time.Duration
	for i := range n + 3 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		if i >= 3 {
			ds = append(ds, time.Since(start))
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)], nil
}
