package session

import (
	"context"
	"strings"
	"time"
)

// Renew moves the session to a new token, keeping its data and deadlines,
// and deletes the old token's session: call it on login and on any
// privilege change (defeats session fixation). The new token is sent with
// the response. Renew re-reads the stored session, so data other requests
// wrote since this one loaded is kept; a write that reaches the old token
// in the few milliseconds between that read and the delete is lost, and
// later ones fail with ErrGone (the old session is never brought back).
// On error the old token stays valid.
func (s *Session) Renew(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.m.cr {
		return s.crRenew(ctx)
	}
	if !s.stored {
		// Not saved yet: its token (made at the first save) is already new.
		return nil
	}
	m := s.m
	oldID := s.id
	if err := ctx.Err(); err != nil {
		return storeErr("renew", err)
	}
	start := time.Now()
	res, err := m.client.HGetAll(ctx, m.keys.session(oldID)).Result()
	m.observe(start, err)
	if err != nil {
		return storeErr("renew", err)
	}
	now := m.now()
	abs, ok1 := fromMs(res[fAbs])
	exp, ok2 := fromMs(res[fExp])
	if !ok1 || !ok2 || !now.Before(abs) || !now.Before(exp) {
		m.gone.Add(1)
		s.fresh()
		return ErrGone
	}
	fields := res
	for k, v := range s.sets {
		fields[k] = v
	}
	for k := range s.dels {
		delete(fields, k)
	}
	exp = minTime(now.Add(m.opts.IdleTimeout), abs)
	fields[fExp] = formatMs(exp)
	user := fields[fUser]

	token := newToken()
	id := storageID(token)
	if user != "" {
		if err := m.index(ctx, user, id, now); err != nil {
			return err
		}
	}
	if err := m.write(ctx, id, fields, now, exp); err != nil {
		return err
	}
	if err := m.retire(ctx, m.keys.session(oldID), m.keys.session(id)); err != nil {
		return err
	}
	if user != "" {
		m.unindex(ctx, user, oldID)
	}
	s.token, s.id = token, id
	s.vals = make(map[string]string, len(fields))
	s.size = 0
	for k, v := range fields {
		if !strings.HasPrefix(k, "$") {
			s.vals[k] = v
			s.size += len(k) + len(v)
		}
	}
	s.abs, s.exp, s.user = abs, exp, user
	if c, ok := fromMs(fields[fCreated]); ok {
		s.created = c
	}
	s.sets, s.dels, s.touch = nil, nil, false
	s.issue, s.clear = true, false
	m.renewed.Add(1)
	m.markActive(ctx, id, now)
	return nil
}

// Destroy deletes the session (logout) and tells the client to drop its
// token. The Session starts over empty: setting data afterwards creates a
// new session with a new token.
func (s *Session) Destroy(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && (!s.loaded || s.stored) {
		if s.id == "" {
			s.id = storageID(s.token)
		}
		if _, err := s.m.DestroyByID(ctx, s.id); err != nil {
			return err
		}
	}
	s.fresh()
	s.issue = false
	s.clear = s.sentToken
	return nil
}

// SetUser ties the session to userID (call it after Renew at login), so
// that ListForUser and DestroyAllForUser find it. The user's index is
// written first, then the session: if the second step fails the index
// holds an entry that ListForUser prunes, never a session it misses. A
// new session is created. FormatConnectRedis: ErrUnsupported (keep the
// user in an ordinary key, as a Node app does: Set(ctx, s, "userId", id)).
func (s *Session) SetUser(ctx context.Context, userID string) error {
	if s != nil && s.m.cr {
		return unsupported("SetUser (the per-user index)")
	}
	if userID == "" {
		return ErrEmptyUser
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	prev := s.user
	if prev == userID && s.stored {
		return nil
	}
	m := s.m
	if !s.stored && s.token == "" {
		s.token = newToken()
		s.id = storageID(s.token)
	}
	if err := m.index(ctx, userID, s.id, m.now()); err != nil {
		return err
	}
	s.user = userID
	if s.stored {
		if s.sets == nil {
			s.sets = map[string]string{}
		}
		s.sets[fUser] = userID
	}
	if err := s.flush(ctx, true); err != nil {
		if s.stored {
			s.user = prev
			delete(s.sets, fUser)
		}
		return err
	}
	if prev != "" && prev != userID {
		m.unindex(ctx, prev, s.id)
	}
	return nil
}

// retire deletes the key a renewal moved away from. If that fails it
// deletes the new key (best effort) and returns the error: the old token
// must not outlive a renewal, and on error the old one stays valid.
func (m *Manager) retire(ctx context.Context, oldKey, newKey string) error {
	start := time.Now()
	err := m.client.Del(ctx, oldKey).Err()
	m.observe(start, err)
	if err != nil {
		start = time.Now()
		uerr := m.client.Del(ctx, newKey).Err()
		m.observe(start, uerr)
		return storeErr("renew", err)
	}
	return nil
}

func formatMs(t time.Time) string {
	return formatInt(ms(t))
}
