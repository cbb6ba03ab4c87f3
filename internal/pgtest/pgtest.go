// Package pgtest gives tests a real PostgreSQL: REDISKIT_TEST_PG if set,
// else a server already answering on 127.0.0.1:5432, else a private
// instance started with initdb/pg_ctl in a temporary directory (as the
// postgres user when running as root). Each test gets its own database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rediskit/rediskit/internal/redisproc"
)

var (
	mu      sync.Mutex
	baseDSN string
	private *instance
	failed  error
)

type instance struct {
	dir, pgctl string
	asUser     string
}

// Shutdown stops a private instance started by this process, if any.
// redistest.Main calls nothing here: call it from TestMain after m.Run
// when a package uses pgtest (Main does it for you).
func Shutdown() {
	mu.Lock()
	defer mu.Unlock()
	if private != nil {
		_ = runAs(private.asUser, private.pgctl, "-D", private.dir, "-m", "immediate", "-w", "stop")
		_ = os.RemoveAll(filepath.Dir(private.dir))
		private = nil
	}
	baseDSN = ""
}

// Main runs the tests, then stops a private PostgreSQL.
func Main(m *testing.M) {
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

// ServerDSN returns a DSN for the server's maintenance database.
func ServerDSN(tb testing.TB) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if baseDSN != "" {
		return baseDSN
	}
	if failed != nil {
		tb.Fatalf("pgtest: PostgreSQL unavailable: %v", failed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dsn, err := find(ctx)
	if err != nil {
		failed = err
		tb.Fatalf("pgtest: PostgreSQL unavailable: %v", err)
	}
	baseDSN = dsn
	return dsn
}

// NewDatabase creates a fresh database, dropped when tb ends, and
// returns its DSN.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	base := ServerDSN(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rediskit_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

func ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

func find(ctx context.Context) (string, error) {
	d := os.Getenv("REDISKIT_TEST_PG")
	if d == "private" {
		return startPrivate(ctx)
	}
	if d != "" {
		if err := ping(ctx, d); err != nil {
			return "", fmt.Errorf("REDISKIT_TEST_PG does not answer: %w", err)
		}
		return d, nil
	}
	for _, d := range []string{
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
	} {
		if ping(ctx, d) == nil {
			return d, nil
		}
	}
	return startPrivate(ctx)
}

// pgBinDir finds the newest /usr/lib/postgresql/<v>/bin with initdb.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (install the Debian package postgresql)")
}

func startPrivate(ctx context.Context) (string, error) {
	bin, err := pgBinDir()
	if err != nil {
		return "", err
	}
	root, err := os.MkdirTemp("", "rediskit-pg-")
	if err != nil {
		return "", err
	}
	data := filepath.Join(root, "data")
	asUser := ""
	if os.Geteuid() == 0 {
		asUser = "postgres"
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(root, uid, gid); err != nil {
			return "", err
		}
	}
	if out, err := runAsOut(asUser, filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		return "", fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := redisproc.FreePort()
	if err != nil {
		return "", err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=logical -c max_connections=200", port, root)
	pgctl := filepath.Join(bin, "pg_ctl")
	if out, err := runAsOut(asUser, pgctl, "-D", data, "-o", opts, "-l", filepath.Join(root, "log"), "-w", "start"); err != nil {
		return "", fmt.Errorf("pg_ctl start: %w: %s", err, out)
	}
	private = &instance{dir: data, pgctl: pgctl, asUser: asUser}
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := redisproc.Poll(ctx, 30*time.Second, "private PostgreSQL", func(ctx context.Context) (bool, error) {
		return ping(ctx, dsn) == nil, nil
	}); err != nil {
		return "", err
	}
	return dsn, nil
}

func runAs(asUser, name string, args ...string) error {
	_, err := runAsOut(asUser, name, args...)
	return err
}

func runAsOut(asUser, name string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", asUser, "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}
