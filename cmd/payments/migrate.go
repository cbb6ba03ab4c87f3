package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rediskit/rediskit/payments/postgres"
)

func init() {
	register("migrate", "apply the schema migrations to DATABASE_URL (and -seed the demo data)", runMigrate)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Bool("seed", false, "insert the demo products and accounts user<N>@example.com (password \"demo\")")
	products := fs.Int("products", 200, "products to seed")
	accounts := fs.Int("accounts", 100, "accounts to seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		return errors.New("DATABASE_URL is required")
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
