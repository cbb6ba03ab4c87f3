#!/usr/bin/env bash
# run.sh: install (npm ci), compile (tsc) and run the NestJS example.
#
#   examples/nestjs/run.sh          build if needed, then exec node dist/main.js
#   examples/nestjs/run.sh build    build if needed, print the app directory
#
# The app is built outside the source tree, in $NEST_APP_DIR (default
# <repo>/.rediskit/nestjs/app): npm ci runs again only when package.json or
# the lockfile changed, tsc only when a source changed. Concurrent callers
# (two instances of a demo) wait for one build under a lock.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${NEST_APP_DIR:-$root/.rediskit/nestjs/app}
for bin in node npm; do
  command -v "$bin" >/dev/null || { echo "run.sh: $bin is not installed (Node.js 20+ and npm; see scripts/deps.sh)" >&2; exit 2; }
done
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
deps=$(cd "$here" && cat package.json package-lock.json | sha256sum | cut -c1-16)
if [ "$(cat "$out/.deps" 2>/dev/null || true)" != "$deps" ]; then
  rm -f "$out/.deps" "$out/.build"
  cp "$here/package.json" "$here/package-lock.json" "$out/"
  (cd "$out" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) >&2
  echo "$deps" >"$out/.deps"
fi
build=$(cd "$here" && find package.json package-lock.json tsconfig.json src -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
if [ "$(cat "$out/.build" 2>/dev/null || true)" != "$build" ]; then
  rm -rf "$out/src" "$out/dist" "$out/.build"
  cp -r "$here/src" "$here/tsconfig.json" "$here/package.json" "$out/"
  (cd "$out" && node node_modules/typescript/bin/tsc -p tsconfig.json) >&2
  echo "$build" >"$out/.build"
fi
flock -u 9
exec 9>&-
if [ "${1:-}" = build ]; then
  echo "$out"
  exit 0
fi
cd "$out"
exec node dist/main.js
