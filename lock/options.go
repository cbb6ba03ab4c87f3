package lock

import "time"

// Pipelining says whether a Locker sends its acquire and release scripts
// through the client's shared go-redis auto-pipeliner
// (client.AutoPipeline()), where the commands of concurrent lock calls
// share network writes and reads. An auto-pipelined command honours the
// client's timeouts but not a ctx cancelled after it was queued. Extends,
// WAIT (Options.Replicas) and the acquire of a woken waiter always go
// straight to the client. Clients without AutoPipeline ignore it.
type Pipelining int

const (
	// PipeliningAuto is the package's measured default: on (2-3 times
	// redsync's throughput of concurrent uncontended acquire+release, see
	// bench/lock.go). A lone call pays the pipeliner's hand-off (about
	// 80 µs per call on our loaded 2-core machine, see the session bench);
	// set PipeliningOff for a process that locks rarely and wants each
	// call's ctx honoured to the end.
	PipeliningAuto Pipelining = iota
	// PipeliningOn sends through the auto-pipeliner.
	PipeliningOn
	// PipeliningOff sends each command on its own round trip.
	PipeliningOff
)

func (p Pipelining) on() bool { return p != PipeliningOff }

// Clock is the time source of a Locker: validity, extension, hold and
// fallback timers. Tests pass a fake one to drive time.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a stoppable, resettable one-shot timer, as time.Timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// wallClock is the default Clock.
type wallClock struct{}

func (wallClock) Now() time.Time                 { return time.Now() }
func (wallClock) NewTimer(d time.Duration) Timer { return wallTimer{time.NewTimer(d)} }

type wallTimer struct{ t *time.Timer }

func (w wallTimer) C() <-chan time.Time        { return w.t.C }
func (w wallTimer) Stop() bool                 { return w.t.Stop() }
func (w wallTimer) Reset(d time.Duration) bool { return w.t.Reset(d) }

var _ Clock = wallClock{}
