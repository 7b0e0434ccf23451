#!/usr/bin/env bash
# Revocation propagation across replicas (SPEC §8): two real `sessiongate serve` processes
# (release builds) share one PostgreSQL; for each iteration a session is created on replica A,
# its access token is verified and cached on replica B, the session is revoked through A
# (alternately admin user logout and client logout), and B is polled with the token, back to
# back, until it answers 401. Reported: count, p50/p90/p99/max/mean in ms of the time from A's
# 204 to B's first 401, as seen by the client (so one HTTP round trip to B is included).
# The driver is examples/propagation.rs; it creates a fresh schema, starts the data_api example
# as the upstream, and stops everything and drops the schema at the end.
#
#   bench/propagation.sh
#   N=500 bench/propagation.sh
#   SESSIONGATE_TEST_POSTGRES_URL=postgres://user:pass@db:5432/bench bench/propagation.sh
#
# Settings (environment): N (200, revocations measured after 5 untimed ones; use 100 or more so
# p99 means something), SESSIONGATE_TEST_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/test;
# the role needs CREATE on the database), LIMIT (5s, fail if B still accepts a revoked token
# after this long).
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-200}"
LIMIT="${LIMIT:-5s}"
export SESSIONGATE_TEST_POSTGRES_URL="${SESSIONGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

[[ "$N" =~ ^[1-9][0-9]*$ ]] || {
  echo "bench/propagation.sh: N must be a positive integer, got '$N'" >&2
  exit 1
}

cargo build --release --quiet --bin sessiongate --example data_api --example propagation

echo "host: $(nproc) CPUs, shared by PostgreSQL, both replicas, data_api and the client"
exec target/release/examples/propagation \
  --sessiongate target/release/sessiongate \
  --data-api target/release/examples/data_api \
  --iterations "$N" \
  --limit "$LIMIT"
