// Package testlog holds the tests' shared output sink: a buffer a child
// process, a log handler or a command writes to while the test reads it.
package testlog

import (
	"strings"
	"sync"
)

// Buffer is an io.Writer safe for concurrent writes and reads. The zero
// value is empty and ready.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
