package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Options configure a Manager. The zero value is usable: every field's
// zero means the default stated in its comment. New copies it.
type Options struct {
	// Format chooses the storage layout. Zero (FormatNative) is the
	// package's own hash per session; FormatConnectRedis shares sessions
	// with express-session + connect-redis (see doc.go).
	Format Format
	// Secrets are express-session's secret list (FormatConnectRedis only,
	// where it is required): the first signs the cookies Go issues, every
	// one verifies the cookies it receives, so a new secret goes first and
	// the old one stays until its cookies are gone. Never printed: String
	// and GoString hide it, and no error or log carries it.
	Secrets []string
	// StoreTTL is connect-redis's ttl option (FormatConnectRedis only): the
	// TTL of a session whose cookie has no expiry (a browser-session
	// cookie). Zero means 86400 s, connect-redis's default. Give both
	// sides the same value.
	StoreTTL time.Duration
	// Prefix starts every key. Empty means "rediskit:session:", or "sess:"
	// (connect-redis's default) in FormatConnectRedis. In FormatNative it
	// must not contain '{' or '}'.
	Prefix string
	// IdleTimeout ends a session that saw no request for this long. Zero
	// means 30 minutes. Set it to Lifetime or more to have no idle timeout.
	// In FormatConnectRedis it is the cookie's maxAge of sessions Go
	// creates (a session created by Node keeps its own).
	IdleTimeout time.Duration
	// Lifetime is the absolute limit from creation, kept across Renew.
	// Zero means 24 hours. FormatConnectRedis has no absolute deadline
	// (express-session has none): New refuses a non-zero Lifetime there.
	Lifetime time.Duration
	// TouchInterval is how long after the last refresh a request pushes the
	// idle deadline forward again (one small write). Requests in between
	// write nothing unless they change data, so a session may end up to
	// TouchInterval before IdleTimeout after its last request. Zero means
	// IdleTimeout/10.
	TouchInterval time.Duration
	// MaxSize limits the bytes of field names plus values of one session,
	// as seen by the request that writes. Zero means 64 KiB.
	MaxSize int
	// Cookie configures the cookie that carries the token. Ignored when
	// Header is set.
	Cookie CookieOptions
	// Header, when set, carries the token in this request header (a
	// "Bearer " prefix is accepted) and returns new tokens in the same
	// response header, instead of a cookie; for APIs. Empty means cookies.
	Header string
	// Codec encodes typed values for Get, Set and CompareAndSwap. Nil
	// means JSON. FormatConnectRedis keeps values as JSON inside the
	// express-session object, so it refuses any other Codec.
	Codec Codec
	// ErrorFunc answers a request whose session could not be saved. Nil
	// means a plain 500 response.
	ErrorFunc func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives store errors and dropped saves. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Pipelining chooses whether the Manager's Redis calls go through the
	// client's shared go-redis auto-pipeliner (see Pipelining). Zero
	// (PipeliningAuto) means the package's default.
	Pipelining Pipelining
	// AutoPipeline routes the Manager's Redis calls through the client's
	// shared auto-pipeliner.
	//
	// Deprecated: use Pipelining: PipeliningOn. It is honoured while
	// Pipelining is PipeliningAuto, and removed in the next release.
	AutoPipeline bool
	// Clock tells the time for every deadline. Nil means the wall clock;
	// tests inject a fake.
	Clock Clock
}

// Clock is the time source of a Manager's deadlines.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Pipelining says whether a Manager sends its Redis calls through the
// client's shared go-redis auto-pipeliner, where the calls of concurrent
// requests share network writes and reads. Clients without one (an
// *redis.AutoPipeliner passed in, a custom UniversalClient) ignore it.
type Pipelining int

const (
	// PipeliningAuto is the default: it pipelines only under concurrency.
	// A load or save that is the Manager's only Redis call in flight
	// takes its own round trip (a lone request's latency is unchanged);
	// one made while others are in flight is submitted to the client's
	// async auto-pipeliner (client.AsyncAutoPipeline(), experimental in
	// go-redis) and waits for its reply or its ctx, whichever comes
	// first; a call abandoned that way may still run, as a call whose
	// reply was lost may. Every other call (Renew, Destroy, Incr,
	// CompareAndSwap, the user index, Active) takes its own round trip.
	// The auto-pipeliner's goroutines belong to the client and stop when
	// it is closed. With 100 concurrent requests this gives several times
	// PipeliningOff's throughput (see bench/session.go and pipelining.go).
	PipeliningAuto Pipelining = iota
	// PipeliningOn sends every call through the client's blocking
	// auto-pipeliner (client.AutoPipeline()): a call already queued is
	// sent whatever happens to its ctx, bounded by the client's timeouts,
	// and a lone request waits for the pipeliner's batching.
	PipeliningOn
	// PipeliningOff sends each call on its own round trip.
	PipeliningOff
)

// CookieOptions configure the session cookie. The zero value is a cookie
// named "session", Path "/", HttpOnly, Secure, SameSite=Lax, persistent
// until the session's absolute deadline.
type CookieOptions struct {
	// Name of the cookie. Empty means "session".
	Name string
	// Domain attribute. Empty means none (host-only cookie).
	Domain string
	// Path attribute. Empty means "/".
	Path string
	// Insecure drops the Secure attribute (plain-HTTP development only).
	// False means Secure is set.
	Insecure bool
	// ScriptReadable drops the HttpOnly attribute. False means HttpOnly.
	ScriptReadable bool
	// SameSite attribute. Zero means http.SameSiteLaxMode.
	SameSite http.SameSite
	// Partitioned sets the Partitioned attribute (CHIPS). False means not
	// set.
	Partitioned bool
	// BrowserSession sends the cookie without Expires, so the browser
	// drops it when it closes. False means it expires at the session's
	// absolute deadline.
	BrowserSession bool
}

// Codec turns typed values into field values and back. Implementations
// must be safe for concurrent use and deterministic (CompareAndSwap
// compares encoded bytes).
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec. Safe for concurrent use.
type JSON struct{}

// Marshal is json.Marshal.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal is json.Unmarshal.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

var _ Codec = JSON{}

// Errors.
var (
	// ErrTooLarge: a change would take the session past Options.MaxSize.
	// Returned as *TooLargeError.
	ErrTooLarge = errors.New("session: too large")
	// ErrGone: the session was destroyed, renewed or expired by another
	// request after this one loaded it; this request's changes were not
	// applied (a session is never brought back).
	ErrGone = errors.New("session: ended by another request")
	// ErrReservedKey: keys starting with '$' are the package's metadata;
	// in FormatConnectRedis "cookie" and the names of express-session's
	// Session properties and methods (id, req, touch, resetMaxAge, save,
	// reload, destroy, regenerate) are reserved instead.
	ErrReservedKey = errors.New("session: reserved key")
	// ErrNoSession: the request did not pass through the Manager's
	// middleware, or the Session is nil.
	ErrNoSession = errors.New("session: no session in context (is the middleware installed?)")
	// ErrEmptyUser: SetUser with an empty user id.
	ErrEmptyUser = errors.New("session: empty user id")
	// ErrNotInteger: Incr on a field that does not hold an integer.
	ErrNotInteger = errors.New("session: field is not an integer")
	// ErrUnsupported: a feature the chosen Format cannot carry (the
	// error names it), e.g. SetUser and the per-user index in
	// FormatConnectRedis.
	ErrUnsupported = errors.New("session: not supported by this format")
	// ErrNotJSON: in FormatConnectRedis a value set with Session.Set or
	// CompareAndSwap must be one JSON value (it is stored as-is inside the
	// express-session object).
	ErrNotJSON = errors.New("session: value is not JSON")
)

// Format is a storage layout.
type Format int

const (
	// FormatNative is the package's own layout: a hash per session keyed
	// by the hash of a 256-bit token, absolute and idle deadlines, a
	// per-user index.
	FormatNative Format = iota
	// FormatConnectRedis is connect-redis 10's layout as written by
	// express-session 1.19: the key "<prefix><sid>" holds the session
	// object as JSON (a "cookie" object plus the application's top-level
	// keys) with a TTL taken from cookie.expires, and the browser holds
	// the signed cookie "s:<sid>.<HMAC-SHA256>". See doc.go.
	FormatConnectRedis
)

// String names the format.
func (f Format) String() string {
	switch f {
	case FormatNative:
		return "native"
	case FormatConnectRedis:
		return "connect-redis"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// unsupported names a feature the format cannot carry.
func unsupported(feature string) error {
	return fmt.Errorf("%w: %s (FormatConnectRedis: express-session has no place for it)", ErrUnsupported, feature)
}

// String describes o with the secrets hidden.
func (o Options) String() string {
	o.Secrets = redacted(o.Secrets)
	type plain Options // no methods: no recursion
	return fmt.Sprintf("%+v", plain(o))
}

// GoString is String, so %#v hides the secrets too.
func (o Options) GoString() string { return o.String() }

func redacted(secrets []string) []string {
	if secrets == nil {
		return nil
	}
	out := make([]string, len(secrets))
	for i := range out {
		out[i] = "<redacted>"
	}
	return out
}

// TooLargeError (a plain value) tells how far a change would take the session past the
// limit. It wraps ErrTooLarge.
type TooLargeError struct {
	Key   string // the key being set
	Size  int    // the session's size with the change
	Limit int    // Options.MaxSize
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("session: setting %q makes the session %d bytes, over the %d-byte limit", e.Key, e.Size, e.Limit)
}

// Unwrap returns ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// StoreError is a failed Redis call, with the operation that made it. A
// plain value.
type StoreError struct {
	Op  string // "load", "save", "renew", ...
	Err error
}

func (e *StoreError) Error() string { return "session: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the Redis or context error.
func (e *StoreError) Unwrap() error { return e.Err }

func (o Options) withDefaults() (Options, error) {
	switch o.Format {
	case FormatNative:
	case FormatConnectRedis:
		if err := o.connectDefaults(); err != nil {
			return o, err
		}
	default:
		return o, fmt.Errorf("session: unknown %v", o.Format)
	}
	if o.Prefix == "" {
		o.Prefix = "rediskit:session:"
	}
	if o.Format == FormatNative && !validPrefix(o.Prefix) {
		return o, fmt.Errorf("session: prefix %q contains a brace", o.Prefix)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.Lifetime == 0 {
		o.Lifetime = 24 * time.Hour
	}
	if o.IdleTimeout < 0 || o.Lifetime < 0 || o.TouchInterval < 0 || o.MaxSize < 0 {
		return o, errors.New("session: negative option")
	}
	if o.IdleTimeout > o.Lifetime {
		o.IdleTimeout = o.Lifetime
	}
	if o.TouchInterval == 0 {
		o.TouchInterval = o.IdleTimeout / 10
	}
	if o.MaxSize == 0 {
		o.MaxSize = 64 << 10
	}
	if o.Cookie.Name == "" {
		o.Cookie.Name = "session"
	}
	if o.Cookie.Path == "" {
		o.Cookie.Path = "/"
	}
	if o.Cookie.SameSite == 0 {
		o.Cookie.SameSite = http.SameSiteLaxMode
	}
	if o.Codec == nil {
		o.Codec = JSON{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	if o.Pipelining == PipeliningAuto && o.AutoPipeline {
		o.Pipelining = PipeliningOn
	}
	if o.ErrorFunc == nil {
		o.ErrorFunc = func(w http.ResponseWriter, _ *http.Request, _ error) {
			http.Error(w, "session store unavailable", http.StatusInternalServerError)
		}
	}
	return o, nil
}
