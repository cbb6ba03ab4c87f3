package clock

import (
	"testing"
	"time"
)

func TestFakeTimers(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	a := f.NewTimer(time.Second)
	b := f.After(3 * time.Second)
	if f.Timers() != 2 {
		t.Fatalf("timers = %d", f.Timers())
	}
	f.Advance(999 * time.Millisecond)
	select {
	case <-a.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-a.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("fired at %v", got)
	}
	if a.Stop() {
		t.Fatal("stopping a fired timer reported active")
	}
	a.Reset(time.Second) // re-armed: fires at +2s
	f.Advance(time.Second)
	<-a.C()
	select {
	case <-b:
		t.Fatal("3s timer fired at 2s")
	default:
	}
	f.Advance(time.Second)
	<-b
	if f.Timers() != 0 {
		t.Fatalf("timers left: %d", f.Timers())
	}
	if c := f.NewTimer(0); len(c.C()) != 1 {
		t.Fatal("zero timer not fired at once")
	}
	if Or(nil) != (Real{}) || Or(f) != f {
		t.Fatal("Or")
	}
}
