package session

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
)

type ctxKey struct{ m *Manager }

// From returns the request's Session put in ctx by m's Middleware, or nil
// (whose methods return ErrNoSession).
func (m *Manager) From(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{m}).(*Session)
	return s
}

// Middleware gives each request a lazily loaded Session (see From) and
// saves its changes just before the response starts: on the first
// WriteHeader, Write or Flush, or when the handler returns. If the save
// fails, Options.ErrorFunc answers instead of the handler and the
// handler's later writes fail. A request that never touches its session
// costs no Redis call.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &Session{m: m}
		if tok, ok := m.requestToken(r); ok {
			s.sentToken = true
			switch {
			case m.cr:
				if sid, ok := m.verify(tok); ok {
					s.token, s.id = sid, sid
				} else {
					m.rejected.Add(1)
				}
			case wellFormed(tok):
				s.token = tok
			default:
				m.rejected.Add(1)
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{m}, s))
		sw := &writer{ResponseWriter: w, s: s, r: r}
		next.ServeHTTP(sw, r)
		sw.commit()
	})
}

// requestToken returns the token the client sent, if any.
func (m *Manager) requestToken(r *http.Request) (string, bool) {
	if h := m.opts.Header; h != "" {
		v := r.Header.Get(h)
		if v == "" {
			return "", false
		}
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			v = v[7:]
		}
		return v, true
	}
	c, err := r.Cookie(m.opts.Cookie.Name)
	if err != nil {
		return "", false
	}
	return c.Value, true
}

// commit saves s and sets the token header. Caller holds s.mu.
func (s *Session) commit(ctx context.Context, h http.Header) error {
	m := s.m
	if err := s.flush(ctx, false); err != nil {
		if !errors.Is(err, ErrGone) {
			return err
		}
		m.opts.Logger.InfoContext(ctx, "session: changes dropped, the session was ended by another request")
	}
	switch {
	case s.issue && m.cr:
		m.sendToken(h, s.token, expiresOf(s.cookie))
		s.issue = false
	case s.issue:
		m.sendToken(h, s.token, s.abs)
		s.issue = false
	case s.clear:
		m.sendToken(h, "", time.Time{})
		s.clear = false
	}
	return nil
}

// verify returns the sid of an express-session cookie (or header) value
// signed with one of Options.Secrets.
func (m *Manager) verify(v string) (string, bool) {
	if m.opts.Header == "" {
		d, ok := decodeCookieValue(v)
		if !ok {
			return "", false
		}
		v = d
	}
	return unsignSID(v, m.opts.Secrets)
}

// sendToken puts token in the response; "" tells the client to drop it.
// In FormatConnectRedis token is the sid, sent signed with the first
// secret, and a zero expires makes a browser-session cookie.
func (m *Manager) sendToken(h http.Header, token string, expires time.Time) {
	value := token
	if m.cr && token != "" {
		value = signSID(token, m.opts.Secrets[0])
		if m.opts.Header == "" {
			value = encodeURIComponent(value)
		}
	}
	if m.opts.Header != "" {
		h.Set(m.opts.Header, value)
		return
	}
	co := m.opts.Cookie
	c := &http.Cookie{
		Name: co.Name, Value: value, Path: co.Path, Domain: co.Domain,
		Secure: !co.Insecure, HttpOnly: !co.ScriptReadable, SameSite: co.SameSite,
		Partitioned: co.Partitioned,
	}
	switch {
	case token == "":
		c.MaxAge = -1
		c.Expires = time.Unix(1, 0)
	case !co.BrowserSession && !expires.IsZero():
		c.Expires = expires.UTC()
		c.MaxAge = max(int(expires.Sub(m.now())/time.Second), 1)
	}
	if v := c.String(); v != "" {
		h.Add("Set-Cookie", v)
	} else {
		m.opts.Logger.Error("session: invalid cookie options", "name", co.Name, "domain", co.Domain, "path", co.Path)
	}
	h.Add("Vary", "Cookie")
	h.Add("Cache-Control", `no-cache="Set-Cookie"`)
}

// writer saves the session before the response starts.
type writer struct {
	http.ResponseWriter
	s      *Session
	r      *http.Request
	done   bool
	failed error
}

// errAborted is returned by writes after a failed save.
var errAborted = errors.New("session: response replaced after a failed session save")

// commit runs once; on failure ErrorFunc answers the request.
func (w *writer) commit() {
	if w.done {
		return
	}
	w.done = true
	s := w.s
	s.mu.Lock()
	err := s.commit(w.r.Context(), w.ResponseWriter.Header())
	s.mu.Unlock()
	if err != nil {
		w.failed = err
		s.m.opts.Logger.ErrorContext(w.r.Context(), "session: save failed", "err", err)
		s.m.opts.ErrorFunc(w.ResponseWriter, w.r, err)
	}
}

func (w *writer) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: the response has not started
		return
	}
	w.commit()
	if w.failed != nil {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	w.commit()
	if w.failed != nil {
		return 0, errAborted
	}
	return w.ResponseWriter.Write(b)
}

// Flush saves the session, then flushes.
func (w *writer) Flush() {
	w.commit()
	if w.failed != nil {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack saves the session, then hands over the connection (websockets).
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.commit()
	if w.failed != nil {
		return nil, nil, w.failed
	}
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
