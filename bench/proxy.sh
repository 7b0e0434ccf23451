#!/usr/bin/env bash
# Proxy overhead: wrk against the example upstream (examples/data_api.rs) directly, then through
# sessiongate, and the difference. Both run from release builds on 127.0.0.1, on ports the
# kernel picks, with a throw-away SQLite store; everything started here is stopped on exit.
#
#   bench/proxy.sh
#   DURATION=30s CONNECTIONS=64 bench/proxy.sh
#
# Settings (environment): DURATION (10s), THREADS (2), CONNECTIONS (32), WARMUP (2s, an
# untimed wrk run before each measured one), SESSIONGATE_LOG (the gateway's log filter; the
# shipped config logs one line per request at info, e.g. SESSIONGATE_LOG=warn turns that off),
# NO_BUILD=1 (use the target/release binaries as they are, e.g. to repeat a run).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
WARMUP="${WARMUP:-2s}"
APP_ID="myapp-abcde" # [app] id in config/sessiongate.toml

fail() {
  echo "bench/proxy.sh: $*" >&2
  exit 1
}

command -v wrk >/dev/null ||
  fail "wrk is not installed; on Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y wrk"
command -v curl >/dev/null ||
  fail "curl is not installed; on Debian/Ubuntu: sudo apt-get install -y curl"

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  cargo build --release --quiet --bin sessiongate --example data_api
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a server with stdout on a FIFO and prints its first stdout line (the line that says
# it is listening, with the address it bound). Blocks until that line arrives: no sleeps.
# Usage: start NAME COMMAND...   (sets $line)
start() {
  local name="$1"
  shift
  mkfifo "$work/$name.out"
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=("$!")
  # Keep the read end open for the whole run so a later write to stdout never hits EPIPE.
  local fd
  exec {fd}<"$work/$name.out"
  if ! IFS= read -r -t 60 line <&"$fd"; then
    cat "$work/$name.log" >&2 || true
    fail "$name exited or did not report ready within 60s"
  fi
}

start data_api target/release/examples/data_api 127.0.0.1:0
upstream="${line##*listening on }" # "data_api listening on http://127.0.0.1:PORT"
[[ "$upstream" == http://* ]] || fail "unexpected data_api output: $line"

start sessiongate env \
  SESSIONGATE_STORE__URL="sqlite://$work/sessiongate.db" \
  SESSIONGATE_UPSTREAM__URL="$upstream" \
  SESSIONGATE_SERVER__LISTEN=127.0.0.1:0 \
  SESSIONGATE_SERVER__ADMIN_LISTEN=127.0.0.1:0 \
  SESSIONGATE_SERVER__SHUTDOWN_GRACE=1s \
  target/release/sessiongate serve --config config/sessiongate.toml
# "sessiongate ready client=http://IP:PORT admin=http://IP:PORT"
[[ "$line" == "sessiongate ready client="* ]] || fail "unexpected sessiongate output: $line"
gateway="${line#*client=}"
gateway="${gateway%% *}"

login="$(curl -sS -f -X POST "$gateway/api/client/v2.0/app/$APP_ID/auth/providers/anon-user/login")" ||
  fail "anonymous login failed"
token="$(sed -E 's/.*"access_token":"([^"]*)".*/\1/' <<<"$login")"
user_id="$(sed -E 's/.*"user_id":"([^"]*)".*/\1/' <<<"$login")"
[[ -n "$token" && "$token" != "$login" ]] || fail "no access_token in the login answer: $login"

# Both targets must answer 200 with the caller's id before anything is measured.
direct_headers=(-H "X-User-Id: $user_id")
gateway_headers=(-H "Authorization: Bearer $token")
answer="$(curl -sS -f "${direct_headers[@]}" "$upstream/whoami")" || fail "data_api /whoami failed"
[[ "$answer" == *"\"$user_id\""* ]] || fail "data_api /whoami did not echo X-User-Id: $answer"
answer="$(curl -sS -f "${gateway_headers[@]}" "$gateway/whoami")" || fail "gateway /whoami failed"
[[ "$answer" == *"\"$user_id\""* ]] ||
  fail "the gateway did not pass the caller's identity to /whoami: $answer"

# wrk reports through this script: requests/s and exact percentiles in microseconds, plus
# every kind of error so a run full of 401s or resets cannot pass for a fast one.
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50),
    latency:percentile(99), summary.requests, errors))
end
LUA

# Usage: measure NAME URL HEADER_ARGS...   (sets rps_NAME, p50_NAME, p99_NAME)
measure() {
  local name="$1" url="$2"
  shift 2
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" "$@" "$url" >/dev/null
  local out result
  out="$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" -s "$work/report.lua" "$@" "$url")"
  result="$(grep '^RESULT ' <<<"$out")" || fail "no result from wrk for $name: $out"
  local rps p50 p99 requests errors
  read -r rps p50 p99 requests errors < <(sed -E 's/[a-z0-9_]+=//g; s/^RESULT //' <<<"$result")
  ((errors == 0)) || fail "$name: $errors of $requests requests failed (non-2xx or socket errors)"
  printf -v "rps_$name" '%s' "$rps"
  printf -v "p50_$name" '%s' "$p50"
  printf -v "p99_$name" '%s' "$p99"
}

echo "wrk: $THREADS threads, $CONNECTIONS connections, ${DURATION} (after ${WARMUP} warm-up), GET /whoami"
echo "host: $(nproc) CPUs, shared by wrk, data_api and sessiongate"
measure direct "$upstream/whoami" "${direct_headers[@]}"
measure gateway "$gateway/whoami" "${gateway_headers[@]}"

awk -v rd="$rps_direct" -v d50="$p50_direct" -v d99="$p99_direct" \
  -v rg="$rps_gateway" -v g50="$p50_gateway" -v g99="$p99_gateway" 'BEGIN {
  printf "%-24s %12s %10s %10s\n", "", "requests/s", "p50", "p99"
  printf "%-24s %12d %8dus %8dus\n", "direct (X-User-Id)", rd, d50, d99
  printf "%-24s %12d %8dus %8dus\n", "through sessiongate", rg, g50, g99
  printf "%-24s %11.1f%% %+8dus %+8dus\n", "overhead", (1 - rg / rd) * 100, g50 - d50, g99 - d99
}'
