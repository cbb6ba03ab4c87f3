package session

import (
	"context"
	"fmt"
)

// Get decodes the value of key with the Manager's Codec. It returns the
// zero T and false when key is not set.
func Get[T any](ctx context.Context, s *Session, key string) (T, bool, error) {
	var v T
	b, ok, err := s.Get(ctx, key)
	if err != nil || !ok {
		return v, false, err
	}
	if err := s.m.opts.Codec.Unmarshal(b, &v); err != nil {
		return v, false, fmt.Errorf("session: decode %q: %w", key, err)
	}
	return v, true, nil
}

// Put is Set.
//
// Deprecated: use Set (the pair of Get, as Session.Get and Session.Set);
// Put is removed in the next release.
func Put[T any](ctx context.Context, s *Session, key string, v T) error {
	return Set(ctx, s, key, v)
}

// Set encodes v with the Manager's Codec and sets key (see Session.Set).
func Set[T any](ctx context.Context, s *Session, key string, v T) error {
	if s == nil {
		return ErrNoSession
	}
	b, err := s.m.opts.Codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encode %q: %w", key, err)
	}
	return s.Set(ctx, key, b)
}

// CompareAndSwap sets key to next if it currently holds old, comparing
// encoded bytes atomically in Redis (see Session.CompareAndSwap). The
// Codec must encode equal values to equal bytes (JSON does).
func CompareAndSwap[T any](ctx context.Context, s *Session, key string, old, next T) (bool, error) {
	if s == nil {
		return false, ErrNoSession
	}
	ob, err := s.m.opts.Codec.Marshal(old)
	if err != nil {
		return false, fmt.Errorf("session: encode %q: %w", key, err)
	}
	nb, err := s.m.opts.Codec.Marshal(next)
	if err != nil {
		return false, fmt.Errorf("session: encode %q: %w", key, err)
	}
	return s.CompareAndSwap(ctx, key, ob, nb)
}
