package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

func TestRemovalJSON(t *testing.T) {
	for _, c := range []struct {
		r    Removal
		json string
	}{
		{Removal{Remove: true}, "true"},
		{Removal{Count: 5}, "5"},
		{Removal{Age: time.Hour, Count: 10}, `{"age":3600,"count":10}`},
		{Removal{Age: time.Minute}, `{"age":60}`},
	} {
		b, err := json.Marshal(c.r)
		if err != nil || string(b) != c.json {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", c.r, b, err, c.json)
		}
		var back Removal
		if err := json.Unmarshal(b, &back); err != nil || back != c.r {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, c.r)
		}
	}
	var r Removal
	if err := json.Unmarshal([]byte("false"), &r); err != nil || r != (Removal{}) {
		t.Errorf("false -> %+v", r)
	}
	if c, _, _ := (&Removal{}).keep(); c != -1 {
		t.Errorf("zero Removal keeps %d, want -1 (all)", c)
	}
	if c, _, _ := (&Removal{Remove: true}).keep(); c != 0 {
		t.Errorf("Remove keeps %d, want 0", c)
	}
}

func TestValidate(t *testing.T) {
	parent := &JobRef{ID: "p", Queue: "bull:q"}
	for _, o := range []JobOptions{{JobID: "12"}, {JobID: "a:b"}, {Priority: -1}, {Priority: 1 << 21}, {Delay: -time.Second},
		// refused by BullMQ 6.7.0's validateOptions too
		{Parent: parent, Deduplication: &Deduplication{ID: "d"}},
		{Parent: parent, FailParentOnFailure: true, IgnoreDependencyOnFailure: true}} {
		if err := o.validate(); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("validate(%+v) = %v", o, err)
		}
	}
	if err := (JobOptions{JobID: "order-12", Priority: 1<<21 - 1}).validate(); err != nil {
		t.Error(err)
	}
}

func TestBackoff(t *testing.T) {
	w := &Worker{}
	for _, c := range []struct {
		b    *Backoff
		atm  int
		want time.Duration
	}{
		{&Backoff{Type: "fixed", Delay: 300}, 0, 300 * time.Millisecond},
		{&Backoff{Type: "fixed", Delay: 300}, 4, 300 * time.Millisecond},
		{&Backoff{Type: "exponential", Delay: 100}, 0, 100 * time.Millisecond},
		{&Backoff{Type: "exponential", Delay: 100}, 1, 200 * time.Millisecond},
		{&Backoff{Type: "exponential", Delay: 100}, 3, 800 * time.Millisecond},
		{nil, 2, 0},
	} {
		got, ok := w.backoff(&Job{AttemptsMade: c.atm, Opts: JobOptions{Backoff: c.b}}, errors.New("x"))
		if !ok || got != c.want {
			t.Errorf("backoff(%+v, atm %d) = %v, want %v", c.b, c.atm, got, c.want)
		}
	}
	// jitter: within [delay*(1-j), delay)
	for range 100 {
		got, _ := w.backoff(&Job{AttemptsMade: 2, Opts: JobOptions{Backoff: &Backoff{Type: "exponential", Delay: 100, Jitter: 0.5}}}, nil)
		if got < 200*time.Millisecond || got > 400*time.Millisecond {
			t.Fatalf("jittered backoff %v outside [200ms, 400ms]", got)
		}
	}
	w.o.Backoff = func(n int, typ string, err error, j *Job) (time.Duration, bool) {
		return time.Duration(math.Pow(10, float64(n))) * time.Millisecond, typ == "pow10"
	}
	if got, ok := w.backoff(&Job{AttemptsMade: 1, Opts: JobOptions{Backoff: &Backoff{Type: "pow10"}}}, nil); !ok || got != 100*time.Millisecond {
		t.Errorf("custom backoff = %v %v", got, ok)
	}
}

func TestUnrecoverable(t *testing.T) {
	if !unrecoverable(fmt.Errorf("wrapped: %w", ErrUnrecoverable)) {
		t.Error("wrapped ErrUnrecoverable not unrecoverable")
	}
	if !unrecoverable(fmt.Errorf("x: %w", &UnrecoverableError{})) {
		t.Error("type named UnrecoverableError not unrecoverable")
	}
	if unrecoverable(errors.New("plain")) {
		t.Error("plain error unrecoverable")
	}
}

type UnrecoverableError struct{}

func (*UnrecoverableError) Error() string { return "custom unrecoverable" }

func FuzzRemovalJSON(f *testing.F) {
	for _, s := range []string{"true", "false", "5", "0", "-1", `{"age":10}`, `{"count":0}`, `{"count":3,"age":1.5,"limit":7}`, "null"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var r Removal
		if json.Unmarshal([]byte(s), &r) != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", r, err)
		}
		var back Removal
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-Unmarshal(%s): %v", b, err)
		}
	})
}

func FuzzParseJob(f *testing.F) {
	f.Add("n", `{"a":1}`, `{"attempts":3}`, "1700000000000", "3", `["x"]`)
	f.Add("", "{", "", "x", "y", "[")
	f.Fuzz(func(t *testing.T, name, data, opts, ts, atm, stack string) {
		j, err := parseJob(&Queue{}, "1", map[string]string{"name": name, "data": data, "opts": opts, "timestamp": ts, "atm": atm, "stacktrace": stack})
		if j == nil {
			t.Fatal("nil job")
		}
		if err == nil && !json.Valid(j.Data) {
			t.Fatalf("accepted invalid data %q", data)
		}
	})
}
