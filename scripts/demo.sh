#!/usr/bin/env bash
# make demo: the reference payments service, running beside the seed
# article's NestJS service (examples/nestjs) on one cluster and one database.
#
# Starts a local 3+3 Redis Cluster (bin/rediskit up), a PostgreSQL (the one
# on 127.0.0.1:5432 if it answers, else a private one under
# .rediskit/pg), two Go instances of the payments service and DEMO_NEST
# NestJS instances (built by examples/nestjs/run.sh into
# .rediskit/nestjs/app; npm ci runs only when the lockfile changed), and
# drives them all with the load generator for DEMO_DURATION (default 40s;
# 60s for the Go-only demo):
# logins on one side used on the other, payments retried and double-clicked
# across sides, jobs either side enqueued run by the other. Then it prints
# the report (per side, cross-side, and the PostgreSQL double-charge audit)
# and the URLs and keeps everything running until Ctrl-C, when it stops
# what it started. Run it again at will: every run starts from a fresh
# database.
#
# Knobs (environment): DEMO_DURATION (40s mixed, 60s Go-only), DEMO_USERS (16),
# DEMO_NEST (1: NestJS instances, 0-2; 0 is the Go-only demo; without
# node/npm the demo says so and runs Go-only), SESSION_SECRET (the
# express-session secret list shared by both sides; default a random one
# per run, never printed),
# DEMO_PORT (8081: Go instances on DEMO_PORT and DEMO_PORT+1, NestJS on
# DEMO_PORT+2 and DEMO_PORT+3),
# DEMO_PG_PORT (55432, for the private PostgreSQL), DEMO_PG=private (start
# the private PostgreSQL even if 5432 answers), DEMO_EXIT=1 (stop
# after the report instead of waiting for Ctrl-C), DATABASE_URL (use this
# PostgreSQL database instead; it is dropped and re-created).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=$ROOT/.rediskit
LOGS=$STATE/logs
DURATION=${DEMO_DURATION:-}
USERS=${DEMO_USERS:-16}
PORT_A=${DEMO_PORT:-8081}
PORT_B=$((PORT_A + 1))
PG_PORT=${DEMO_PG_PORT:-55432}
NEST=${DEMO_NEST:-1}
case "$NEST" in 0|1|2) ;; *) printf 'demo: DEMO_NEST: want 0, 1 or 2, got %s\n' "$NEST" >&2; exit 2 ;; esac

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pids=()
nest_build=""
cluster_started=0
pg_started=""
pg_user=""
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  say "stopping"
  if [ -n "$nest_build" ]; then kill -TERM -- -"$nest_build" 2>/dev/null || true; fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ ${#pids[@]} -gt 0 ] && echo "payments instances stopped"
  if [ "$cluster_started" = 1 ]; then bin/rediskit down || true; fi
  if [ -n "$pg_started" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$pg_started" -m fast -w stop >/dev/null && echo "PostgreSQL stopped"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg() {
  if [ -n "$pg_user" ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

mkdir -p "$LOGS" bin

# The NestJS build (npm ci the first time: network and disk) runs while Go
# builds and the cluster and PostgreSQL start.
nest_skip=""
if [ "$NEST" -gt 0 ]; then
  for bin in node npm; do
    command -v "$bin" >/dev/null || nest_skip="${nest_skip:+$nest_skip and }$bin"
  done
  if [ -n "$nest_skip" ]; then
    say "NestJS: skipped ($nest_skip not installed): running the Go-only demo; the cross-side steps (logins, payments, jobs across Go and Nest) are skipped"
    NEST=0
  else
    say "NestJS app: building in the background (npm ci cached under .rediskit/nestjs, then tsc; log: ${LOGS#"$ROOT"/}/nestjs-build.log)"
    setsid examples/nestjs/run.sh build >"$LOGS/nestjs-build.log" 2>&1 &
    nest_build=$!
  fi
fi
# The mixed demo runs 40 s by default (it also builds the Nest app); the
# Go-only one 60 s.
if [ -z "$DURATION" ]; then
  DURATION=60s
  [ "$NEST" -gt 0 ] && DURATION=40s
fi

say "building bin/rediskit and bin/payments"
go build -o bin/rediskit ./cmd/rediskit
go build -o bin/payments ./cmd/payments

nest_ports=()
for ((i = 0; i < NEST; i++)); do nest_ports+=($((PORT_A + 2 + i))); done

for p in "$PORT_A" "$PORT_B" "${nest_ports[@]}"; do
  port_open "$p" && die "port $p is taken (a previous demo still running? set DEMO_PORT=...)"
done

say "Redis Cluster (3 masters, 3 replicas)"
up_out=$(bin/rediskit up)
echo "$up_out"
case "$up_out" in *"already running"*) ;; *) cluster_started=1 ;; esac
REDIS_NODES=$(printf '%s\n' "$up_out" | grep -o 'REDIS_NODES=[^ ]*' | head -n1 | cut -d= -f2)
[ -n "$REDIS_NODES" ] || die "could not read REDIS_NODES from 'rediskit up'"
export REDIS_NODES

say "PostgreSQL"
if [ -z "${DATABASE_URL:-}" ] && [ "${DEMO_PG:-}" != private ] && port_open 5432 &&
   DATABASE_URL="postgres://postgres@127.0.0.1:5432/rediskit_demo?sslmode=disable" bin/payments migrate -reset -seed >/dev/null 2>&1; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/rediskit_demo?sslmode=disable"
  echo "using the server on 127.0.0.1:5432, database rediskit_demo (fresh)"
elif [ -n "${DATABASE_URL:-}" ]; then
  bin/payments migrate -reset -seed >/dev/null
  echo "using DATABASE_URL (database re-created)"
else
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$PG_BIN" ] || PG_BIN=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
  [ -x "$PG_BIN/initdb" ] || die "no PostgreSQL server binaries: run scripts/deps.sh (Debian package postgresql)"
  pg_dir=$STATE/pg
  if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root: run it as the postgres user, in a
    # directory that user can reach.
    pg_user=postgres
    id postgres >/dev/null 2>&1 || die "running as root needs the postgres user (installed with the postgresql package)"
    runuser -u postgres -- test -x "$STATE" 2>/dev/null || { mkdir -p "$STATE" && chmod o+x "$STATE"; }
    runuser -u postgres -- test -x "$STATE" 2>/dev/null || pg_dir=/tmp/rediskit-demo-pg
  fi
  mkdir -p "$pg_dir"
  [ -n "$pg_user" ] && chown "$pg_user" "$pg_dir"
  if [ ! -f "$pg_dir/data/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$pg_dir/data" -A trust -U postgres --no-sync >"$LOGS/initdb.log" 2>&1 ||
      die "initdb failed: see $LOGS/initdb.log"
  fi
  # Try a few ports: one may be bound by something that does not accept.
  started=0
  for try in 0 1 2 3 4 5 6 7 8 9; do
    port=$((PG_PORT + try))
    port_open "$port" && continue
    if as_pg "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
      -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null 2>&1; then
      started=1
      PG_PORT=$port
      break
    fi
  done
  [ "$started" = 1 ] || die "PostgreSQL did not start: see $pg_dir/log"
  pg_started=$pg_dir/data
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/rediskit_demo?sslmode=disable"
  bin/payments migrate -reset -seed >/dev/null
  echo "private PostgreSQL on 127.0.0.1:$PG_PORT (data in $pg_dir/data), database rediskit_demo (fresh)"
fi

# One express-session secret list for both sides (never printed).
if [ -z "${SESSION_SECRET:-}" ]; then
  SESSION_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
fi
export SESSION_SECRET
shared_sessions=false
if [ "$NEST" -gt 0 ]; then
  # The Go instances keep their logins in connect-redis's format (sess:<id>,
  # signed connect.sid, the Nest app's secrets): one login for both sides.
  export PAYMENTS_SESSION_FORMAT=connect-redis
  shared_sessions=true
  # ...and read and write products in the Keyv entries Nest's cache-manager
  # keeps: a Go price change replaces the entry Nest reads.
  export PAYMENTS_PRODUCT_CACHE=keyv
fi

say "payments service: two Go instances"
export PAYMENTS_LOG_LEVEL=${PAYMENTS_LOG_LEVEL:-warn}
for inst in a b; do
  port=$PORT_A; [ "$inst" = b ] && port=$PORT_B
  # setsid: Ctrl-C reaches this script only, which then stops the
  # instances in order (graceful shutdown on SIGTERM).
  PAYMENTS_INSTANCE=go-$inst PAYMENTS_ADDR=127.0.0.1:$port setsid bin/payments serve >"$LOGS/payments-$inst.log" 2>&1 &
  pids+=($!)
  echo "Go instance go-$inst on http://127.0.0.1:$port (log: ${LOGS#"$ROOT"/}/payments-$inst.log)"
done

nest_urls=""
if [ "$NEST" -gt 0 ]; then
  say "NestJS service: $NEST instance(s)"
  wait "$nest_build" || { nest_build=""; die "the NestJS build failed: see $LOGS/nestjs-build.log (DEMO_NEST=0 runs the Go-only demo)"; }
  nest_build=""
  echo "NestJS app built, ${SECONDS}s into the demo"
  for ((i = 0; i < NEST; i++)); do
    inst=$([ "$i" = 0 ] && echo a || echo b)
    port=${nest_ports[$i]}
    INSTANCE=nest-$inst PORT=$port HOST=127.0.0.1 \
      setsid examples/nestjs/run.sh >"$LOGS/nest-$inst.log" 2>&1 &
    pids+=($!)
    nest_urls=${nest_urls:+$nest_urls,}http://127.0.0.1:$port
    echo "NestJS instance nest-$inst on http://127.0.0.1:$port (log: ${LOGS#"$ROOT"/}/nest-$inst.log)"
  done
  if [ "$shared_sessions" = true ]; then
    echo "sessions: shared (both sides in connect-redis format under sess:, cookie connect.sid, one SESSION_SECRET)"
  else
    echo "sessions: NOT shared (PAYMENTS_SESSION_FORMAT=native): each side logs in on its own; cross-side logins are skipped"
  fi
fi

say "load: $USERS users for $DURATION (browse, login, orders, payments with duplicates and double clicks${nest_urls:+, across Go and NestJS})"
bin/payments loadgen -urls "http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B" -nest-urls "$nest_urls" \
  -shared-sessions="$shared_sessions" -duration "$DURATION" -users "$USERS" -wait 90s -progress 10s

cat <<EOF

Look at (while it runs):
  API         curl http://127.0.0.1:$PORT_A/products/1      (same data on :$PORT_B)
  try it      curl -c /tmp/jar -X POST localhost:$PORT_A/login -d '{"email":"user1@example.com","password":"demo"}'
              curl -b /tmp/jar -X POST localhost:$PORT_B/orders -d '{"product_id":7}'
              curl -b /tmp/jar -X POST -H 'Idempotency-Key: k1' localhost:$PORT_A/orders/<id>/pay   (again: same charge, 200)
  counters    curl http://127.0.0.1:$PORT_A/stats
  metrics     curl http://127.0.0.1:$PORT_A/metrics | grep ^payments_
  health      curl http://127.0.0.1:$PORT_A/readyz
  dashboard   http://127.0.0.1:$PORT_A/admin/   (read-only; DASHBOARD_USER/DASHBOARD_PASSWORD make it writable)
  cluster     bin/rediskit status      (REDIS_NODES=$REDIS_NODES)
  database    $DATABASE_URL
  more load   DATABASE_URL=$DATABASE_URL bin/payments loadgen -urls http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B${nest_urls:+ -nest-urls $nest_urls -shared-sessions=$shared_sessions} -duration 30s
EOF
if [ -n "$nest_urls" ]; then
  cat <<EOF
  NestJS      curl -i ${nest_urls%%,*}/products/1    (X-Cache: hit|miss; counters: /stats; log: ${LOGS#"$ROOT"/}/nest-a.log)
  across      curl -b /tmp/jar ${nest_urls%%,*}/me    (the Go login above is a login here: one connect.sid)
              curl -b /tmp/jar -X POST -H 'Idempotency-Key: k1' ${nest_urls%%,*}/orders/<id>/pay   (the Go charge replayed: 200)
EOF
fi

if [ "${DEMO_EXIT:-0}" = 1 ]; then
  exit 0
fi
printf '\nPress Ctrl-C to stop everything.\n'
while :; do
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || die "instance (pid $p) exited: see $LOGS"
  done
  sleep 2 &
  wait $! || true
done
