package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed static
var staticFS embed.FS

// Errors.
var (
	// ErrUnauthorized, returned (wrapped) by Options.Authorize, makes the
	// dashboard answer 401 with a basic-auth challenge; any other error
	// from Authorize answers 403.
	ErrUnauthorized = errors.New("dashboard: unauthorized")
	// ErrReadOnly is the error of every action on a read-only dashboard.
	ErrReadOnly = errors.New("dashboard: read-only")
	// ErrNoAuth is returned by New for a writable dashboard without
	// Options.Authorize (set AllowAnonymousWrites to mean it).
	ErrNoAuth = errors.New("dashboard: a writable dashboard needs Options.Authorize")
	// ErrBadRequest marks a request the dashboard refuses (bad parameter).
	ErrBadRequest = errors.New("dashboard: bad request")
	// ErrNotFound marks a queue or job that does not exist.
	ErrNotFound = errors.New("dashboard: not found")
)

// Options configure a Dashboard. The zero value is a writable dashboard
// without authentication, which New refuses unless AllowAnonymousWrites
// is set: give Authorize, or set ReadOnly.
type Options struct {
	// Prefix is the path the dashboard is mounted under ("/admin"). The
	// handler strips it from every request itself. Empty means "/".
	Prefix string
	// ReadOnly refuses every action (retry, remove, pause, revoke, ...)
	// with 403; pages still show everything. False means actions allowed.
	ReadOnly bool
	// Authorize is called for every request (pages, API, assets) before
	// anything else; a non-nil error refuses the request: 401 with a
	// basic-auth challenge when it wraps ErrUnauthorized, 403 otherwise.
	// Nil means every request is allowed. See BasicAuth.
	Authorize func(*http.Request) error
	// AllowAnonymousWrites lets New accept a writable dashboard without
	// Authorize (tests, a port only reachable through an authenticating
	// proxy). False means New fails with ErrNoAuth in that case.
	AllowAnonymousWrites bool
	// Who names the caller in audit lines. Nil means the basic-auth user
	// name (or "anonymous") and the remote address.
	Who func(*http.Request) string
	// Logger receives one audit line per action (level INFO, message
	// "dashboard action") and errors. Nil means slog.Default().
	Logger *slog.Logger
	// Timeout bounds all Redis work of one request. Zero means 5 s.
	Timeout time.Duration
	// NodeTimeout bounds the commands sent to one node for the cluster
	// page, so a dead or paused node is shown as such at once. Zero
	// means 1 s.
	NodeTimeout time.Duration
	// MaxQueues bounds how many queues discovery reports. Zero means 500.
	MaxQueues int
	// SearchBudget is how many jobs one search request examines at most
	// before it returns a continuation cursor. Zero means 5000.
	SearchBudget int
	// Services are the service's own objects (sessions, caches, lockers)
	// when the dashboard is mounted inside it. Zero means Redis-derived
	// figures only.
	Services Services
}

func (o Options) withDefaults() Options {
	o.Prefix = strings.TrimRight(o.Prefix, "/")
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = time.Second
	}
	if o.MaxQueues <= 0 {
		o.MaxQueues = 500
	}
	if o.SearchBudget <= 0 {
		o.SearchBudget = 5000
	}
	if o.Who == nil {
		o.Who = defaultWho
	}
	return o
}

func defaultWho(r *http.Request) string {
	u, _, ok := r.BasicAuth()
	if !ok || u == "" {
		u = "anonymous"
	}
	return u + "@" + r.RemoteAddr
}

// BasicAuth returns an Authorize function that accepts HTTP basic auth
// with user and password (compared in constant time).
func BasicAuth(user, password string) func(*http.Request) error {
	uh, ph := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	return func(r *http.Request) error {
		u, p, ok := r.BasicAuth()
		if !ok {
			return fmt.Errorf("%w: no credentials", ErrUnauthorized)
		}
		gu, gp := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		if subtle.ConstantTimeCompare(gu[:], uh[:])&subtle.ConstantTimeCompare(gp[:], ph[:]) != 1 {
			return fmt.Errorf("%w: wrong credentials", ErrUnauthorized)
		}
		return nil
	}
}

// Dashboard is the web UI and its JSON API for the deployment behind one
// client. It is an http.Handler; safe for concurrent use. Close releases
// the connections it opened to single nodes.
type Dashboard struct {
	rdb   redis.UniversalClient
	o     Options
	mux   *http.ServeMux
	cop   *http.CrossOriginProtection
	nodes *nodePool
	log   *slog.Logger

	mu        sync.Mutex
	discovery discovered
	analysis  analysisRun
}

var _ http.Handler = (*Dashboard)(nil)

// New returns the dashboard for client. It does no I/O; the caller still
// owns client.
func New(client redis.UniversalClient, o Options) (*Dashboard, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadRequest)
	}
	if !o.ReadOnly && o.Authorize == nil && !o.AllowAnonymousWrites {
		return nil, ErrNoAuth
	}
	o = o.withDefaults()
	d := &Dashboard{rdb: client, o: o, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection(), log: o.Logger}
	d.nodes = newNodePool(client, o.NodeTimeout)
	d.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.log.Warn("dashboard: cross-origin action refused", "who", o.Who(r), "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		writeError(w, http.StatusForbidden, errors.New("dashboard: cross-origin request refused"))
	}))
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	files := http.FileServerFS(sub)
	d.mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	d.routes()
	return d, nil
}

// Close stops a running memory analysis and releases the per-node
// connections of the cluster page.
func (d *Dashboard) Close() error {
	d.stopAnalysis()
	return d.nodes.close()
}

// ServeHTTP authorizes the request, strips Options.Prefix and serves it.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	if a := d.o.Authorize; a != nil {
		if err := a(r); err != nil {
			if errors.Is(err, ErrUnauthorized) {
				h.Set("WWW-Authenticate", `Basic realm="rediskit dashboard", charset="UTF-8"`)
				writeError(w, http.StatusUnauthorized, ErrUnauthorized)
				return
			}
			writeError(w, http.StatusForbidden, errors.New("dashboard: forbidden"))
			return
		}
	}
	p := r.URL.Path
	if d.o.Prefix != "" {
		if p == d.o.Prefix {
			http.Redirect(w, r, d.o.Prefix+"/", http.StatusMovedPermanently)
			return
		}
		rest, ok := strings.CutPrefix(p, d.o.Prefix+"/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = "/"+rest, ""
		r2.URL = &u
		r = r2
	}
	d.mux.ServeHTTP(w, r)
}

// csrfCookie holds the double-submit token; every action must send the
// same value in the X-CSRF-Token header.
const (
	csrfCookie = "rediskit_dashboard_csrf"
	csrfHeader = "X-CSRF-Token"
)

// ensureToken returns the caller's CSRF token, setting the cookie when
// there is none yet.
func (d *Dashboard) ensureToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	path := d.o.Prefix + "/"
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: path, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return tok
}

// checkCSRF refuses an action that is cross-origin (Sec-Fetch-Site,
// Origin) or whose X-CSRF-Token header does not match its cookie.
func (d *Dashboard) checkCSRF(r *http.Request) error {
	if err := d.cop.Check(r); err != nil {
		return fmt.Errorf("dashboard: cross-origin request refused: %w", err)
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return errors.New("dashboard: CSRF cookie missing: load the page first")
	}
	got := r.Header.Get(csrfHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) != 1 {
		return errors.New("dashboard: CSRF token missing or wrong")
	}
	return nil
}

// ctx bounds the Redis work of one request by Options.Timeout.
func (d *Dashboard) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d.o.Timeout)
}

// apiFunc is one read endpoint: it returns the value to encode.
type apiFunc func(ctx context.Context, r *http.Request) (any, error)

func (d *Dashboard) get(pattern string, f apiFunc) {
	d.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := d.ctx(r)
		defer cancel()
		v, err := f(ctx, r)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// actionFunc is one action: it returns a result to encode and a short
// description of what it did for the audit line.
type actionFunc func(ctx context.Context, r *http.Request, body actionBody) (any, error)

// actionBody is the JSON body of every action.
type actionBody struct {
	Queue   string          `json:"queue,omitempty"`
	ID      string          `json:"id,omitempty"`
	State   string          `json:"state,omitempty"`
	GraceMS int64           `json:"graceMs,omitempty"`
	Limit   int             `json:"limit,omitempty"`
	Name    string          `json:"name,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Opts    json.RawMessage `json:"opts,omitempty"`
	User    string          `json:"user,omitempty"`
	Confirm bool            `json:"confirm,omitempty"`
}

func (b actionBody) auditAttrs() []any {
	var a []any
	for _, kv := range [][2]string{{"queue", b.Queue}, {"id", b.ID}, {"state", b.State}, {"name", b.Name}, {"user", b.User}} {
		if kv[1] != "" {
			a = append(a, kv[0], kv[1])
		}
	}
	if b.GraceMS != 0 {
		a = append(a, "grace_ms", b.GraceMS)
	}
	if b.Limit != 0 {
		a = append(a, "limit", b.Limit)
	}
	return a
}

// action registers POST /api/action/<name>. destructive actions need
// "confirm": true in the body (the UI asks the user first).
func (d *Dashboard) action(name string, destructive bool, f actionFunc) {
	d.handleAction(name, destructive, false, f)
}

// actionReadOnly registers an action that changes nothing in Redis (it
// still needs the CSRF token) and so runs on a read-only dashboard too.
func (d *Dashboard) actionReadOnly(name string, f actionFunc) { d.handleAction(name, false, true, f) }

func (d *Dashboard) handleAction(name string, destructive, readOnlyOK bool, f actionFunc) {
	d.mux.HandleFunc("POST /api/action/"+name, func(w http.ResponseWriter, r *http.Request) {
		who := d.o.Who(r)
		if err := d.checkCSRF(r); err != nil {
			d.log.Warn("dashboard: action refused", "who", who, "action", name, "reason", err.Error())
			writeError(w, http.StatusForbidden, err)
			return
		}
		if d.o.ReadOnly && !readOnlyOK {
			d.log.Warn("dashboard: action refused", "who", who, "action", name, "reason", "read-only")
			writeError(w, http.StatusForbidden, fmt.Errorf("%w: %s refused", ErrReadOnly, name))
			return
		}
		var body actionBody
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: body: %v", ErrBadRequest, err))
			return
		}
		if destructive && !body.Confirm {
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: %s is destructive: send \"confirm\": true", ErrBadRequest, name))
			return
		}
		ctx, cancel := d.ctx(r)
		defer cancel()
		res, err := f(ctx, r, body)
		attrs := append([]any{"who", who, "action", name}, body.auditAttrs()...)
		if err != nil {
			d.log.Info("dashboard action", append(attrs, "ok", false, "err", err.Error())...)
			d.fail(w, r, err)
			return
		}
		d.log.Info("dashboard action", append(attrs, "ok", true)...)
		writeJSON(w, http.StatusOK, res)
	})
}

// fail maps err to a status and writes it.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrReadOnly):
		status = http.StatusForbidden
	case errors.Is(err, errRateLimited):
		status = http.StatusTooManyRequests
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	}
	if status >= 500 {
		d.log.Warn("dashboard: request failed", "path", r.URL.Path, "err", err.Error())
	}
	writeError(w, status, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// sessionInfo is GET /api/session: what the UI needs to know first.
type sessionInfo struct {
	CSRF     string `json:"csrf"`
	ReadOnly bool   `json:"readOnly"`
	Who      string `json:"who"`
	Mode     string `json:"mode"`
}

func (d *Dashboard) routes() {
	d.mux.HandleFunc("GET /api/session", func(w http.ResponseWriter, r *http.Request) {
		tok := d.ensureToken(w, r)
		writeJSON(w, http.StatusOK, sessionInfo{CSRF: tok, ReadOnly: d.o.ReadOnly, Who: d.o.Who(r), Mode: clientMode(d.rdb)})
	})
	d.get("/api/cluster", d.apiCluster)
	d.queueRoutes()
	d.extraRoutes()
}

func clientMode(c redis.UniversalClient) string {
	switch c.(type) {
	case *redis.ClusterClient:
		return "cluster"
	case *redis.Client:
		return "single"
	default:
		return fmt.Sprintf("%T", c)
	}
}
