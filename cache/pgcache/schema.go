package pgcache

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Table is the outbox table every watched table's trigger writes to.
const Table = "rediskit_cache_outbox"

// Channel is the NOTIFY channel the triggers signal (a wake-up hint only:
// the outbox rows are what is durable).
const Channel = "rediskit_cache_outbox"

const schemaSQL = `
CREATE TABLE IF NOT EXISTS ` + Table + ` (
	id         bigserial   PRIMARY KEY,
	namespace  text        NOT NULL,
	keys       text[]      NOT NULL DEFAULT '{}',
	tags       text[]      NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`

// Install creates the outbox table if it does not exist.
func Install(ctx context.Context, db *pgxpool.Pool) error {
	if _, err := db.Exec(ctx, schemaSQL); err != nil {
		return fmt.Errorf("pgcache: install: %w", err)
	}
	return nil
}

// Watch describes how the rows of one table map to cache keys and tags.
// Key and Tags are SQL expressions over the row's columns (for example
// "id::text" or "'category:' || category_id"), evaluated for the old row
// (UPDATE, DELETE) and the new row (INSERT, UPDATE).
type Watch struct {
	// Table is the watched table (optionally schema-qualified). Required.
	Table string
	// Namespace is the cache namespace the keys belong to. Required.
	Namespace string
	// Key is the SQL expression giving the cache key of a row. Required.
	Key string
	// Tags are SQL expressions giving tags of a row. Default none.
	Tags []string
	// NoNotify leaves out the pg_notify wake-up: relays then find rows by
	// polling only. Default false (notify; it takes a brief global lock at
	// commit, which very write-heavy databases may want to avoid).
	NoNotify bool
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// WatchTable installs (or replaces) an AFTER INSERT OR UPDATE OR DELETE
// trigger on w.Table that writes the affected keys and tags to the outbox
// in the same transaction as the change, so every committed change (by
// any service, or raw SQL) is relayed and none is lost while relays are
// down.
func WatchTable(ctx context.Context, db *pgxpool.Pool, w Watch) error {
	if !identRE.MatchString(w.Table) || w.Namespace == "" || w.Key == "" {
		return fmt.Errorf("pgcache: watch: need a plain table name, a namespace and a key expression")
	}
	name := "rediskit_cache_" + strings.ReplaceAll(w.Table, ".", "_")
	tags := "'{}'::text[]"
	if len(w.Tags) > 0 {
		tags = "ARRAY[" + strings.Join(w.Tags, ", ") + "]::text[]"
	}
	ins := func(row string) string {
		return fmt.Sprintf("INSERT INTO %s (namespace, keys, tags) SELECT %s, ARRAY[(%s)::text], %s FROM (SELECT %s.*) AS r;",
			Table, quote(w.Namespace), w.Key, tags, row)
	}
	notify := "PERFORM pg_notify('" + Channel + "', '');"
	if w.NoNotify {
		notify = ""
	}
	fn := fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $rk$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		%s
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		%s
	END IF;
	%s
	RETURN NULL;
END
$rk$`, name, ins("OLD"), ins("NEW"), notify)
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgcache: watch %s: %w", w.Table, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, q := range []string{
		schemaSQL,
		fn,
		fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", name, w.Table),
		fmt.Sprintf("CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION %s()", name, w.Table, name),
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("pgcache: watch %s: %w", w.Table, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgcache: watch %s: %w", w.Table, err)
	}
	return nil
}

// quote returns s as an SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
