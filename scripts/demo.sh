#!/usr/bin/env bash
# make demo: start the local 3+3 cluster and run a short workload against it.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/rediskit ./cmd/rediskit
bin/rediskit up
bin/rediskit smoke -duration 2s
echo
echo "The cluster keeps running: bin/rediskit status | bin/rediskit down"
