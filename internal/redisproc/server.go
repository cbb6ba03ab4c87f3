package redisproc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoBinary is returned when redis-server cannot be found on PATH.
var ErrNoBinary = errors.New("redisproc: redis-server not found on PATH (install the Debian package redis-server)")

// Binary returns the path of redis-server, or ErrNoBinary.
func Binary() (string, error) {
	if p := os.Getenv("REDISKIT_REDIS_SERVER"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", ErrNoBinary
	}
	return p, nil
}

// ServerOptions describe one redis-server process. The zero value is a
// plain node on a free loopback port in a new temporary directory.
type ServerOptions struct {
	// Dir is the working directory (logs, nodes.conf). Empty means a new
	// temporary directory removed by Close.
	Dir string
	// Port is the TCP port. Zero picks a free loopback port.
	Port int
	// Args are extra configuration directives, e.g. {"maxmemory", "10mb"}
	// as pairs of "--name" "value" without the dashes: "maxmemory 10mb".
	Args []string
	// TLS, when set, serves TLS only (plain port disabled).
	TLS *TLSFiles
	// Sentinel starts the process in sentinel mode with Config as its file.
	Sentinel bool
	// Config is written to the config file before start (sentinel mode
	// needs a writable file). Empty means no file.
	Config string
	// Detach leaves the process running after this program exits
	// (new session, no parent-death signal). Used by `rediskit up`.
	Detach bool
}

// Server is one redis-server process. Its methods are safe for
// concurrent use.
type Server struct {
	opts    ServerOptions
	port    int
	dir     string
	tempDir bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	paused bool
}

// NewServer allocates ports and the directory but does not start.
func NewServer(opts ServerOptions) (*Server, error) {
	s := &Server{opts: opts, port: opts.Port, dir: opts.Dir}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "rediskit-redis-")
		if err != nil {
			return nil, fmt.Errorf("redisproc: temp dir: %w", err)
		}
		s.dir, s.tempDir = d, true
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("redisproc: dir: %w", err)
	}
	if s.port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		s.port = p
	}
	return s, nil
}

// StartServer creates and starts a server and waits until it answers PING.
func StartServer(ctx context.Context, opts ServerOptions) (*Server, error) {
	s, err := NewServer(opts)
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the TCP port of the server.
func (s *Server) Port() int { return s.port }

// Dir is the working directory of the server.
func (s *Server) Dir() string { return s.dir }

// TLS returns the TLS files the server was started with, or nil.
func (s *Server) TLS() *TLSFiles { return s.opts.TLS }

// PID returns the process id, or 0 when not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) args() ([]string, error) {
	var a []string
	if s.opts.Config != "" || s.opts.Sentinel {
		f := filepath.Join(s.dir, "server.conf")
		if err := os.WriteFile(f, []byte(s.opts.Config), 0o644); err != nil {
			return nil, fmt.Errorf("redisproc: write config: %w", err)
		}
		a = append(a, f)
		if s.opts.Sentinel {
			a = append(a, "--sentinel")
		}
	}
	a = append(a,
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no",
		"--protected-mode", "no",
	)
	if !s.opts.Sentinel {
		a = append(a, "--save", "", "--appendonly", "no")
	}
	if t := s.opts.TLS; t != nil {
		a = append(a, "--port", "0", "--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", t.Cert, "--tls-key-file", t.Key, "--tls-ca-cert-file", t.CA,
			"--tls-auth-clients", "optional")
	} else {
		a = append(a, "--port", strconv.Itoa(s.port))
	}
	for _, kv := range s.opts.Args {
		name, val, _ := strings.Cut(kv, " ")
		a = append(a, "--"+name)
		if val != "" || strings.HasSuffix(kv, " ") {
			a = append(a, val)
		}
	}
	return a, nil
}

// Start launches the process and waits until it answers PING.
func (s *Server) Start(ctx context.Context) error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	args, err := s.args()
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return fmt.Errorf("redisproc: %s already running", s.Addr())
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	if s.opts.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("redisproc: %w", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		_ = out.Close()
		return fmt.Errorf("redisproc: start %s: %w", bin, err)
	}
	done := make(chan struct{})
	s.cmd, s.done, s.paused = cmd, done, false
	s.mu.Unlock()
	go func() { // owned by s: ends when the process exits
		_ = cmd.Wait()
		_ = out.Close()
		close(done)
	}()
	if err := s.waitReady(ctx, done); err != nil {
		_ = s.Kill()
		return err
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c := s.Client()
	defer c.Close()
	for {
		err := c.Ping(ctx).Err()
		if err == nil || strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "WRONGPASS") {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redisproc: %s exited during start; log: %s", s.Addr(), s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("redisproc: %s not ready: %w (last: %v); log: %s", s.Addr(), ctx.Err(), err, s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	b2, _ := os.ReadFile(filepath.Join(s.dir, "stdout.log"))
	b = append(b, b2...)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// Client returns a new single-node client for this server (TLS when the
// server uses TLS). The caller closes it.
func (s *Server) Client() *redis.Client {
	o := &redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, Protocol: 2, DisableIdentity: true}
	if t := s.opts.TLS; t != nil {
		if cfg, err := t.ClientConfig(); err == nil {
			o.TLSConfig = cfg
		} else {
			o.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // harness-only fallback
		}
	}
	return redis.NewClient(o)
}

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return fmt.Errorf("redisproc: %s not running", s.Addr())
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("redisproc: signal %v to %s: %w", sig, s.Addr(), err)
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to exit.
func (s *Server) Kill() error {
	s.mu.Lock()
	cmd, done, paused := s.cmd, s.done, s.paused
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	if paused {
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	<-done
	s.mu.Lock()
	if s.cmd == cmd {
		s.cmd, s.paused = nil, false
	}
	s.mu.Unlock()
	return nil
}

// Running reports whether the process is alive (paused counts as alive).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Pause stops the process with SIGSTOP.
func (s *Server) Pause() error {
	if err := s.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
	return nil
}

// Resume continues a paused process with SIGCONT.
func (s *Server) Resume() error {
	if err := s.signal(syscall.SIGCONT); err != nil {
		return err
	}
	s.mu.Lock()
	s.paused = false
	s.mu.Unlock()
	return nil
}

// Restart kills the process if running and starts it again on the same
// port and directory (a cluster node keeps its nodes.conf).
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Kill(); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Close kills the process and removes a temporary directory.
func (s *Server) Close() error {
	err := s.Kill()
	if s.tempDir {
		_ = os.RemoveAll(s.dir)
	}
	return err
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// below 55535 so that port+10000 stays valid.
func FreePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("redisproc: free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if p < 55535 {
			return p, nil
		}
	}
	return 0, errors.New("redisproc: no free port below 55535")
}
