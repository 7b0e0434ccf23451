#!/usr/bin/env bash
# Login-storm shedding: proxied latency (wrk, GET /whoami through sessiongate to the example
# upstream) when quiet and during a storm of wrong-password logins, and the latency of the
# answers the storm gets: 429 from [login_limits] (one client hammering), or 503 from the hash
# pool's queue bound (login_limits off). Everything runs on 127.0.0.1, ports picked by the
# kernel, throw-away SQLite stores; everything started here is stopped on exit.
#
# Two kinds of storm:
#   storm  issue 13's P7: logins arriving at 3x the hash pool's capacity, its throughput in
#          hashes per second, measured first (pool-size connections of wrong-password logins,
#          3 s). wrk paces each of the storm's connections (`delay`) to reach that rate.
#   flood  the closed loop: 3x (slots + queue) connections, each sending its next login as soon
#          as the last was answered. Refusals take microseconds, so this is a flood of
#          refused requests at whatever rate the machine allows, competing with the proxied
#          load for the same cores.
#
#   bench/login_storm.sh
#   PROFILE=debug NO_BUILD=1 bench/login_storm.sh   # the debug binaries as they are
#
# Settings (environment): DURATION (10s), CONNECTIONS (8, the proxied load), HASH_CONCURRENCY
# (2), HASH_QUEUE (8), SAMPLES (200 timed logins during each storm), STORM_NICE (0; 19 runs the
# storm's own wrk at the lowest priority, as if the attacker's machine were another),
# PROFILE (release), NO_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-8}"
HASH_CONCURRENCY="${HASH_CONCURRENCY:-2}"
HASH_QUEUE="${HASH_QUEUE:-8}"
SAMPLES="${SAMPLES:-200}"
STORM_NICE="${STORM_NICE:-0}"
PROFILE="${PROFILE:-release}"
STORM=$((3 * (HASH_CONCURRENCY + HASH_QUEUE)))
APP_ID="myapp-abcde" # [app] id in config/sessiongate.toml
EMAIL="storm@example.com"

fail() {
  echo "bench/login_storm.sh: $*" >&2
  exit 1
}

command -v wrk >/dev/null || fail "wrk is not installed (apt-get install -y wrk)"
command -v curl >/dev/null || fail "curl is not installed"

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  if [[ "$PROFILE" == release ]]; then
    cargo build --release --quiet --bin sessiongate --example data_api
  else
    cargo build --quiet --bin sessiongate --example data_api
  fi
fi
bin="target/$PROFILE"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Usage: start NAME COMMAND...   (sets $line: the server's first stdout line, its ready line)
start() {
  local name="$1"
  shift
  mkfifo "$work/$name.out"
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=("$!")
  local fd
  exec {fd}<"$work/$name.out"
  if ! IFS= read -r -t 60 line <&"$fd"; then
    cat "$work/$name.log" >&2 || true
    fail "$name exited or did not report ready within 60s"
  fi
}

start data_api "$bin/examples/data_api" 127.0.0.1:0
upstream="${line##*listening on }"
[[ "$upstream" == http://* ]] || fail "unexpected data_api output: $line"

# Usage: gateway NAME LIMITS_ENABLED   (sets $gateway)
gateway() {
  start "$1" env \
    SESSIONGATE_STORE__URL="sqlite://$work/$1.db" \
    SESSIONGATE_UPSTREAM__URL="$upstream" \
    SESSIONGATE_SERVER__LISTEN=127.0.0.1:0 \
    SESSIONGATE_SERVER__ADMIN_LISTEN=127.0.0.1:0 \
    SESSIONGATE_SERVER__SHUTDOWN_GRACE=1s \
    SESSIONGATE_AUTH__PASSWORD_HASH_CONCURRENCY="$HASH_CONCURRENCY" \
    SESSIONGATE_AUTH__PASSWORD_HASH_QUEUE="$HASH_QUEUE" \
    SESSIONGATE_LOGIN_LIMITS__ENABLED="$2" \
    SESSIONGATE_LOG=warn \
    "$bin/sessiongate" serve --config config/sessiongate.toml
  [[ "$line" == "sessiongate ready client="* ]] || fail "unexpected sessiongate output: $line"
  gateway="${line#*client=}"
  gateway="${gateway%% *}"
  curl -sS -f -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"right-password-1\"}" \
    "$gateway/api/client/v2.0/app/$APP_ID/auth/providers/local-userpass/register" ||
    fail "register on $1 failed"
}

cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT p50_us=%d p99_us=%d requests=%d errors=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests, errors))
end
LUA
cat >"$work/flood.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"$EMAIL","password":"wrong-password-1"}'
LUA
cat "$work/flood.lua" - >"$work/capacity.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT rate=%d\n", summary.requests * 1000000 / summary.duration))
end
LUA

# Usage: capacity GATEWAY   (sets capacity: wrong-password logins per second the pool hashes)
capacity() {
  local out
  out="$(wrk -t 1 -c "$HASH_CONCURRENCY" -d 3s -s "$work/capacity.lua" \
    "$1/api/client/v2.0/app/$APP_ID/auth/providers/local-userpass/login")"
  capacity="$(sed -nE 's/^RESULT rate=([0-9]+)$/\1/p' <<<"$out")"
  [[ -n "$capacity" && "$capacity" -gt 0 ]] || fail "no capacity measured: $out"
}

# Usage: proxied NAME GATEWAY   (sets p99_NAME, p50_NAME; fails on any non-2xx)
proxied() {
  local login token out result p50 p99 requests errors
  login="$(curl -sS -f -X POST "$2/api/client/v2.0/app/$APP_ID/auth/providers/anon-user/login")"
  token="$(sed -E 's/.*"access_token":"([^"]*)".*/\1/' <<<"$login")"
  out="$(wrk -t 1 -c "$CONNECTIONS" -d "$DURATION" -s "$work/report.lua" \
    -H "Authorization: Bearer $token" "$2/whoami")"
  result="$(grep '^RESULT ' <<<"$out")" || fail "no result from wrk for $1: $out"
  read -r p50 p99 requests errors < <(sed -E 's/[a-z0-9_]+=//g; s/^RESULT //' <<<"$result")
  ((errors == 0)) || fail "$1: $errors of $requests proxied requests failed"
  printf -v "p50_$1" '%s' "$p50"
  printf -v "p99_$1" '%s' "$p99"
}

# Times $SAMPLES logins (wrong password) one after another; prints "status seconds" lines.
sample_logins() {
  for _ in $(seq "$SAMPLES"); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST \
      -H 'Content-Type: application/json' \
      -d "{\"username\":\"$EMAIL\",\"password\":\"wrong-password-1\"}" \
      "$1/api/client/v2.0/app/$APP_ID/auth/providers/local-userpass/login"
  done
}

# Usage: storm NAME GATEWAY SCRIPT   (proxied load, storm and samples at once; prints the
# statuses)
storm() {
  nice -n "$STORM_NICE" wrk -t 1 -c "$STORM" -d "$DURATION" -s "$3" \
    "$2/api/client/v2.0/app/$APP_ID/auth/providers/local-userpass/login" >"$work/$1.storm" &
  local storm_pid=$!
  sample_logins "$2" >"$work/$1.samples" &
  local sample_pid=$!
  proxied "$1" "$2"
  wait "$storm_pid" "$sample_pid"
  awk -v name="$1" '{ n[$1]++; t[$1] = t[$1] " " $2 } END {
    for (s in n) {
      c = split(substr(t[s], 2), v, " "); asort(v)
      i = int(c * 0.99); if (i < 1) i = 1
      printf "  %-10s login answers %s: %4d sampled, p50 %7.2f ms, p99 %7.2f ms\n",
        name, s, c, v[int((c + 1) / 2)] * 1000, v[i] * 1000
    }
  }' "$work/$1.samples"
  grep -q '^500 ' "$work/$1.samples" && fail "$1: a login answered 500"
  true
}

echo "host: $(nproc) CPUs shared by wrk, curl, data_api and sessiongate; profile $PROFILE"
gateway limited true
limited="$gateway"
gateway shedding false
shedding="$gateway"
capacity "$shedding"
rate=$((3 * capacity))
# Each storm connection waits so that together they send `rate` logins per second.
cat "$work/flood.lua" - >"$work/storm.lua" <<LUA
delay = function() return $((1000 * STORM / rate)) end
LUA
echo "hash pool: $HASH_CONCURRENCY slots + $HASH_QUEUE queue, $capacity hashes/s; storm:" \
  "$rate wrong-password logins/s (3x) over $STORM connections; flood: $STORM connections" \
  "closed loop; proxied: $CONNECTIONS connections, $DURATION each"
proxied quiet "$limited"
echo "storm against login_limits (one client; 429 once its keys trip):"
storm limited "$limited" "$work/storm.lua"
echo "storm with login_limits off (the hash pool's queue bound sheds with 503):"
storm shedding "$shedding" "$work/storm.lua"
echo "flood with login_limits off:"
storm flood "$shedding" "$work/flood.lua"
awk -v q50="$p50_quiet" -v q99="$p99_quiet" -v l50="$p50_limited" -v l99="$p99_limited" \
  -v s50="$p50_shedding" -v s99="$p99_shedding" -v f50="$p50_flood" -v f99="$p99_flood" 'BEGIN {
  printf "%-34s %10s %10s %12s\n", "proxied GET /whoami", "p50", "p99", "p99 / quiet"
  printf "%-34s %8dus %8dus\n", "quiet", q50, q99
  printf "%-34s %8dus %8dus %11.2fx\n", "during storm, login_limits on", l50, l99, l99 / q99
  printf "%-34s %8dus %8dus %11.2fx\n", "during storm, login_limits off", s50, s99, s99 / q99
  printf "%-34s %8dus %8dus %11.2fx\n", "during flood, login_limits off", f50, f99, f99 / q99
}'
