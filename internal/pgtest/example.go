package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ExampleDatabase creates a fresh database for an Example function, which
// gets no testing.TB, and returns its DSN and a func that drops it. It
// panics when PostgreSQL is unavailable. Examples write it as
//
//	dsn, drop := pgtest.ExampleDatabase() // in a service: DATABASE_URL
//	defer drop()
func ExampleDatabase() (dsn string, drop func()) {
	base := exampleServerDSN()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rediskit_ex_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		panic("pgtest: create database: " + err.Error())
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		panic("pgtest: " + err.Error())
	}
	dsn = fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	return dsn, func() { _ = exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") }
}

// exampleServerDSN is ServerDSN without a testing.TB: it panics.
func exampleServerDSN() string {
	mu.Lock()
	defer mu.Unlock()
	if baseDSN != "" {
		return baseDSN
	}
	if failed != nil {
		panic("pgtest: PostgreSQL unavailable: " + failed.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dsn, err := find(ctx)
	if err != nil {
		failed = err
		panic("pgtest: PostgreSQL unavailable: " + err.Error())
	}
	baseDSN = dsn
	return dsn
}
