#!/usr/bin/env bash
# Stream closing across replicas (issue 11): two real `sessiongate serve` processes share one
# PostgreSQL; per iteration a WebSocket is opened through replica B and its session revoked on
# replica A (client logout); reported are p50/p90/p99/max of the time until B's close frame
# (1008) reaches the client, from A's 204 and from sending the revocation. The driver is
# examples/stream_propagation.rs; it creates a fresh schema, runs its own WebSocket upstream,
# and stops everything and drops the schema at the end.
#
#   bench/streams.sh
#   N=200 bench/streams.sh
#   NO_BUILD=1 bench/streams.sh          # reuse target/release binaries
#
# Settings (environment): N (50), SESSIONGATE_TEST_POSTGRES_URL
# (postgres://postgres@127.0.0.1:5432/test; the role needs CREATE on the database), LIMIT (5s,
# fail if a close frame has not arrived after this long).
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-50}"
LIMIT="${LIMIT:-5s}"
export SESSIONGATE_TEST_POSTGRES_URL="${SESSIONGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

[[ "$N" =~ ^[1-9][0-9]*$ ]] || {
  echo "bench/streams.sh: N must be a positive integer, got '$N'" >&2
  exit 1
}

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  cargo build --release --quiet --bin sessiongate --example stream_propagation
fi

echo "host: $(nproc) CPUs, shared by PostgreSQL, both replicas and the client"
exec target/release/examples/stream_propagation \
  --sessiongate target/release/sessiongate \
  --iterations "$N" \
  --limit "$LIMIT"
