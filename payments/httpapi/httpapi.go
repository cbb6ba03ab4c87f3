// Package httpapi is the HTTP API of the reference payments service
// (net/http, Go 1.22 patterns):
//
//	GET  /products/{id}        cache-aside read (near cache)
//	PUT  /products/{id}        write-through (logged in)
//	POST /login                {"email","password"}: renews the session
//	POST /logout               ends this session
//	POST /logout-all           ends every session of the user (501 with
//	                           connect-redis sessions: no per-user index)
//	GET  /me                   the logged-in account
//	POST /orders               {"product_id","quantity"}
//	GET  /orders/{id}
//	POST /orders/{id}/pay      Idempotency-Key header required
//	GET  /stats                the service's counters (JSON)
//	GET  /metrics              Prometheus
//	GET  /healthz, /readyz     liveness; readiness (Redis and PostgreSQL answer)
//	     /admin/               the rediskit dashboard (Options.Admin)
//
// Errors are JSON {"error": "..."} with a status from the domain error.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rediskit/rediskit/internal/retry"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/session"
)

// Options configure the API. Sessions and Service are required.
type Options struct {
	// Sessions stores the logins. Required.
	Sessions *session.Manager
	// UserKey, when set, keeps the logged-in account id as a JSON number
	// under this top-level session key instead of the session's user
	// (SetUser): "userId" with a session.FormatConnectRedis Manager is
	// express-session's req.session.userId, so a login on a NestJS app
	// sharing the sessions is a login here and the reverse. /logout-all
	// then answers 501 (connect-redis keeps no per-user index).
	UserKey string
	// Ready reports whether the dependencies answer (for /readyz). Nil
	// means always ready.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics. Nil means 404.
	Metrics http.Handler
	// Admin, when set, is served under /admin/ (the rediskit dashboard,
	// built with Prefix "/admin"). Nil means 404.
	Admin http.Handler
	// Observe, when set, is called after each request with its route
	// pattern, status and duration (for metrics).
	Observe func(route string, status int, d time.Duration)
	// Logger receives errors. Nil means slog.Default().
	Logger *slog.Logger
}

// API is the service's http.Handler. Safe for concurrent use.
type API struct {
	svc  *payments.Service
	o    Options
	mux  *http.ServeMux
	root http.Handler
	log  *slog.Logger
}

// SessionError answers a request whose session could not be saved (use as
// session.Options.ErrorFunc): 503, so clients retry instead of seeing a
// server error during a Redis failover.
func SessionError(w http.ResponseWriter, _ *http.Request, err error) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "session store unavailable: " + err.Error()})
}

// New returns the API over svc.
func New(svc *payments.Service, o Options) *API {
	a := &API{svc: svc, o: o, mux: http.NewServeMux(), log: o.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	m := a.mux
	m.HandleFunc("GET /products/{id}", a.getProduct)
	m.HandleFunc("PUT /products/{id}", a.putProduct)
	m.HandleFunc("POST /login", a.login)
	m.HandleFunc("POST /logout", a.logout)
	m.HandleFunc("POST /logout-all", a.logoutAll)
	m.HandleFunc("GET /me", a.me)
	m.HandleFunc("POST /orders", a.createOrder)
	m.HandleFunc("GET /orders/{id}", a.getOrder)
	m.HandleFunc("POST /orders/{id}/pay", a.pay)
	m.HandleFunc("GET /stats", a.stats)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	m.HandleFunc("GET /readyz", a.ready)
	if o.Metrics != nil {
		m.Handle("GET /metrics", o.Metrics)
	}
	if o.Admin != nil {
		m.Handle("/admin/", o.Admin)
	}
	a.root = o.Sessions.Middleware(m)
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.o.Observe == nil {
		a.root.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: 200}
	a.root.ServeHTTP(sw, r)
	_, pattern := a.mux.Handler(r)
	if pattern == "" {
		pattern = "other"
	}
	a.o.Observe(pattern, sw.status, time.Since(start))
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error    string `json:"error"`
	ChargeID string `json:"charge_id,omitempty"`
}

// fail answers err with the status its kind calls for.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	body := errorBody{Error: err.Error()}
	var pe *payments.PaidError
	switch {
	case errors.As(err, &pe):
		status, body.ChargeID = http.StatusConflict, pe.Charge.ID
	case errors.Is(err, payments.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, payments.ErrBadCredentials), errors.Is(err, errUnauthenticated):
		status = http.StatusUnauthorized
	case errors.Is(err, payments.ErrInvalid), errors.Is(err, payments.ErrNoKey), errors.Is(err, errBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, payments.ErrKeyReused):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, session.ErrUnsupported):
		status = http.StatusNotImplemented
	case errors.Is(err, payments.ErrFenced), errors.Is(err, lock.ErrLost), errors.Is(err, lock.ErrTaken),
		errors.Is(err, lock.ErrNoQuorum), errors.Is(err, session.ErrGone), errors.Is(err, payments.ErrNotCharged),
		errors.Is(err, payments.ErrOutcomeUnknown):
		// Nothing was charged (or, when the outcome is unknown, the
		// charge is found by its key): the client retries with the same key.
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	default:
		var se *session.StoreError
		var ne net.Error
		if errors.As(err, &se) || errors.As(err, &ne) || retry.Classify(err) != retry.Fatal {
			// Redis or PostgreSQL unreachable for now (a failover):
			// fail cleanly, the client retries.
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
	}
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusNotImplemented {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, body)
}

var (
	errUnauthenticated = errors.New("not logged in")
	errBadRequest      = errors.New("bad request")
)

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errBadRequest
	}
	return id, nil
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	if err := dec.Decode(v); err != nil {
		return errors.Join(errBadRequest, err)
	}
	return nil
}

// user returns the logged-in account id.
func (a *API) user(r *http.Request) (int64, error) {
	s := a.o.Sessions.From(r.Context())
	if a.o.UserKey != "" {
		id, ok, err := session.Get[int64](r.Context(), s, a.o.UserKey)
		switch {
		case err != nil && !errors.Is(err, session.ErrGone):
			var se *session.StoreError
			if errors.As(err, &se) {
				return 0, err
			}
			// A value Go cannot read as an account id: not a login.
			return 0, errors.Join(errUnauthenticated, err)
		case err != nil || !ok || id <= 0:
			return 0, errUnauthenticated
		}
		return id, nil
	}
	uid, err := s.UserID(r.Context())
	if err != nil {
		return 0, err
	}
	if uid == "" {
		return 0, errUnauthenticated
	}
	id, err := strconv.ParseInt(uid, 10, 64)
	if err != nil {
		return 0, errUnauthenticated
	}
	return id, nil
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.svc.Product(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) putProduct(w http.ResponseWriter, r *http.Request) {
	if _, err := a.user(r); err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var p payments.Product
	if err := decode(r, &p); err != nil {
		a.fail(w, r, err)
		return
	}
	p.ID = id
	out, err := a.svc.UpdateProduct(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	acct, err := a.svc.Store().Authenticate(r.Context(), req.Email, req.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s := a.o.Sessions.From(r.Context())
	// A new token at login defeats session fixation.
	if err := s.Renew(r.Context()); err != nil && !errors.Is(err, session.ErrGone) {
		a.fail(w, r, err)
		return
	}
	if a.o.UserKey != "" {
		err = session.Set(r.Context(), s, a.o.UserKey, acct.ID)
	} else {
		err = s.SetUser(r.Context(), strconv.FormatInt(acct.ID, 10))
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := s.Save(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, acct)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.o.Sessions.From(r.Context()).Destroy(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) logoutAll(w http.ResponseWriter, r *http.Request) {
	uid, err := a.user(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.o.Sessions.DestroyAllForUser(r.Context(), strconv.FormatInt(uid, 10))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	_ = a.o.Sessions.From(r.Context()).Destroy(r.Context())
	writeJSON(w, http.StatusOK, map[string]int{"destroyed": n})
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	uid, err := a.user(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	acct, err := a.svc.Store().Account(r.Context(), uid)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, acct)
}

type orderRequest struct {
	ProductID int64 `json:"product_id"`
	Quantity  int   `json:"quantity"`
}

func (a *API) createOrder(w http.ResponseWriter, r *http.Request) {
	uid, err := a.user(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req orderRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Quantity == 0 {
		req.Quantity = 1
	}
	o, err := a.svc.CreateOrder(r.Context(), uid, req.ProductID, req.Quantity)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	uid, err := a.user(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := a.svc.Order(r.Context(), uid, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// PayResponse is the body of a successful payment.
type PayResponse struct {
	Charge   payments.Charge `json:"charge"`
	Replayed bool            `json:"replayed"`
}

func (a *API) pay(w http.ResponseWriter, r *http.Request) {
	uid, err := a.user(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.Pay(r.Context(), uid, id, r.Header.Get("Idempotency-Key"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if res.Replayed {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, status, PayResponse{Charge: res.Charge, Replayed: res.Replayed})
}

func (a *API) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.svc.Stats())
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	if a.o.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.o.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
