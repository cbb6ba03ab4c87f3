package queue

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/testlog"

	"github.com/rediskit/rediskit/internal/redistest"
)

// warnLogger logs warnings and errors to l.
func warnLogger(l *testlog.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestFinishScriptErrorNotRetried: a script error while finishing (here
// WRONGTYPE: "completed" is not a zset) is Fatal: one try, logged, the
// jobs left to the stalled check; no retry storm.
func TestFinishScriptErrorNotRetried(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		e.add(t, "x", map[string]int{})
		started, release := make(chan struct{}), make(chan struct{})
		var logs testlog.Buffer
		w := e.run(t, func(ctx context.Context, j *Job) (any, error) {
			close(started)
			<-release
			return "ok", nil
		}, WorkerOptions{Logger: warnLogger(&logs)})
		<-started
		if err := e.rdb.Set(ctx, e.q.k.completed, "not a zset", 0).Err(); err != nil {
			t.Fatal(err)
		}
		close(release)
		redistest.Eventually(t, 5*time.Second, "finish given up", func() bool {
			return strings.Contains(logs.String(), "the stalled check will recover them")
		})
		if n := strings.Count(logs.String(), "finishing jobs failed\""); n != 1 {
			t.Errorf("finish tried %d times, want 1 (a script error is not retried):\n%s", n, logs.String())
		}
		if !strings.Contains(logs.String(), "WRONGTYPE") {
			t.Errorf("log does not name the error:\n%s", logs.String())
		}
		if s := w.Stats(); s.Errors != 1 {
			t.Errorf("Errors = %d, want 1", s.Errors)
		}
	})
}

// TestFetchErrorsCountedAndLogged: fetch errors go through the retry loop:
// counted, the last one kept, logged; the worker resumes once Redis
// answers again.
func TestFetchErrorsCountedAndLogged(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		// "wait" of the wrong type: every fetch fails with WRONGTYPE
		if err := e.rdb.Set(ctx, e.q.k.wait, "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		var logs testlog.Buffer
		done := make(chan string, 1)
		w := e.run(t, func(ctx context.Context, j *Job) (any, error) { done <- j.ID; return nil, nil }, WorkerOptions{Logger: warnLogger(&logs)})
		redistest.Eventually(t, 5*time.Second, "fetch error counted", func() bool {
			s := w.Stats()
			return s.Errors > 0 && s.LastError != nil && strings.Contains(s.LastError.Error(), "WRONGTYPE")
		})
		if !strings.Contains(logs.String(), "queue fetch") || !strings.Contains(logs.String(), "WRONGTYPE") {
			t.Errorf("fetch error not logged:\n%s", logs.String())
		}
		e.rdb.Del(ctx, e.q.k.wait)
		id := e.add(t, "x", map[string]int{})
		select {
		case got := <-done:
			if got != id {
				t.Errorf("ran %s, want %s", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("worker did not resume after the error cleared")
		}
	})
}

// TestEventsReadErrorsCountedAndLogged: XREAD errors of an Events reader
// are logged and counted (Stats), and reading resumes afterwards.
func TestEventsReadErrorsCountedAndLogged(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		bg := context.Background()
		if err := e.rdb.Set(bg, e.q.k.events, "not a stream", 0).Err(); err != nil {
			t.Fatal(err)
		}
		var logs testlog.Buffer
		ev, err := NewEvents(e.rdb, e.name, EventsOptions{Options: Options{Prefix: e.prefix}, LastID: "0", Logger: warnLogger(&logs)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		got := make(chan Event, 100)
		done := make(chan error, 1)
		go func() { done <- ev.Run(ctx, func(x Event) error { got <- x; return nil }) }()
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v", err)
			}
		}()
		redistest.Eventually(t, 5*time.Second, "read error counted", func() bool {
			s := ev.Stats()
			return s.Errors > 0 && s.LastError != nil && strings.Contains(s.LastError.Error(), "WRONGTYPE")
		})
		if !strings.Contains(logs.String(), "queue events") || !strings.Contains(logs.String(), "WRONGTYPE") {
			t.Errorf("read error not logged:\n%s", logs.String())
		}
		e.rdb.Del(bg, e.q.k.events)
		id := e.add(t, "x", nil)
		for {
			select {
			case x := <-got:
				if x.Name == "added" && x.JobID == id {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatal("reader did not resume after the error cleared")
			}
		}
	})
}
