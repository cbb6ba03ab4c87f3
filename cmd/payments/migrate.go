package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/rediskit/rediskit/payments/postgres"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Bool("seed", false, "insert the demo products and accounts user<N>@example.com (password \"demo\")")
	products := fs.Int("products", 200, "products to seed")
	accounts := fs.Int("accounts", 100, "accounts to seed")
	create := fs.Bool("create", false, "create the database named in DATABASE_URL when it does not exist")
	reset := fs.Bool("reset", false, "drop and create the database named in DATABASE_URL first (demo runs start clean)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		return errors.New("DATABASE_URL is required")
	}
	if *create || *reset {
		if err := createDatabase(ctx, dsn, *reset); err != nil {
			return err
		}
	}
	store, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	if *seed {
		if err := store.Seed(ctx, *products, *accounts, "demo"); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "schema up to date")
	return nil
}

// createDatabase creates (after dropping it, with reset) the database of
// dsn, connected to the server's "postgres" database.
func createDatabase(ctx context.Context, dsn string, reset bool) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	name := cfg.Database
	if name == "" || name == "postgres" {
		return fmt.Errorf("DATABASE_URL must name a database other than %q to create it", name)
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ident := pgx.Identifier{name}.Sanitize()
	if reset {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
			return err
		}
	}
	return nil
}
