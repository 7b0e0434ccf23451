#!/usr/bin/env bash
# Latency at a fixed rate, side by side with nginx (issue 13's P2: "p99 at 50 % of nginx's max
# rate (open loop) <= nginx's p99"). In one run, on 127.0.0.1, with bench/proxy.sh's set-up:
#
#   nginx      nginx as the reference reverse proxy (worker_processes auto, upstream keepalive
#              128, access log off) in front of the upstream (nginx, one worker, 1 KiB body)
#   gw_auth    sessiongate, a required-auth route, valid Bearer token (a cache hit)
#   gw_none    sessiongate, the `auth = "none"` route (/public), same process
#
# First nginx's max rate is measured closed-loop (wrk -t1 -c CONNECTIONS, as proxy.sh does,
# for MAX_DURATION after a WARMUP) unless RATE is given; then every target is driven at
# RATE_PERCENT (50) % of it by oha, an open-loop generator: requests are scheduled at the fixed
# rate whether or not earlier ones were answered, over CONNECTIONS keep-alive connections, and
# with --latency-correction each latency counts from the request's scheduled time, not from
# when a free connection sent it (no coordinated omission: a stall shows as the latency of
# every request it delayed). Each measured run follows an untimed one at the same rate; targets
# are measured in turn, the order rotating every round, ROUNDS times. The script prints
# p50/p99/p99.9 and the achieved rate per run, then the median ratio gw / nginx of each
# percentile with its spread (min..max) over the rounds. It fails on any non-2xx answer or
# request error, and warns when a run fell behind the rate (then its latencies include the
# generator's own lag).
#
#   bench/open_loop.sh
#   ROUNDS=5 DURATION=10s GATEWAY_BIN=/tmp/sg-bench/sessiongate bench/open_loop.sh
#   RATE=20000 bench/open_loop.sh                 # a fixed rate, no max-rate run
#
# Settings (environment): DURATION (10s, oha -z), WARMUP (2s), CONNECTIONS (64), ROUNDS (3),
# TARGETS (nginx gw_auth gw_none), RATE (requests/s; default RATE_PERCENT % of nginx's measured
# max), RATE_PERCENT (50), MAX_DURATION (5s), OHA_THREADS (oha's tokio worker threads; default
# oha's own: the number of physical cores), SESSIONGATE_LOG (warn), NO_BUILD=1, GATEWAY_BIN
# (another binary to measure; implies NO_BUILD).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
CONNECTIONS="${CONNECTIONS:-64}"
ROUNDS="${ROUNDS:-3}"
TARGETS="${TARGETS:-nginx gw_auth gw_none}"
RATE="${RATE:-}"
RATE_PERCENT="${RATE_PERCENT:-50}"
MAX_DURATION="${MAX_DURATION:-5s}"
export SESSIONGATE_LOG="${SESSIONGATE_LOG:-warn}"

BENCH_NAME=bench/open_loop.sh
# shellcheck source=bench/lib/proxy_setup.sh
source bench/lib/proxy_setup.sh

require_tools "on Debian: apt-get install -y wrk curl nginx-light python3" wrk curl nginx python3
require_tools "install it with: cargo install oha --locked" oha
oha --help | grep -q -- '--latency-correction' ||
  fail "this oha has no --latency-correction; install a newer one: cargo install oha --locked"
oha_args=(--no-tui --output-format json -w)
[[ -n "${OHA_THREADS:-}" ]] && oha_args+=(--worker-threads "$OHA_THREADS")
for target in $TARGETS; do
  [[ "$target" =~ ^(nginx|gw_auth|gw_none)$ ]] || fail "unknown target $target (nginx, gw_auth, gw_none)"
done

gateway_binary
start_workdir
start_upstream
start_reference_nginx
start_gateway sessiongate
token="$(mint_token "$gateway")"

# Every target must answer 200 with the 1 KiB body before anything is measured.
define_targets "$token"

if [[ -z "$RATE" ]]; then
  wrk -t 1 -c "$CONNECTIONS" -d "$WARMUP" "${url[nginx]}" >/dev/null
  read -r max _ _ < <(wrk_measure "nginx (max rate)" -t 1 -c "$CONNECTIONS" -d "$MAX_DURATION" "${url[nginx]}")
  RATE=$((max * RATE_PERCENT / 100))
  echo "nginx max rate: $max requests/s (wrk -t1 -c$CONNECTIONS, closed loop, $MAX_DURATION); open-loop rate: $RATE_PERCENT % = $RATE requests/s"
else
  echo "open-loop rate: $RATE requests/s (given)"
fi
if [[ ! "$RATE" =~ ^[0-9]+$ ]] || ((RATE == 0)); then
  fail "RATE must be a positive whole number, not $RATE"
fi

# measure TARGET -> prints "p50_us p99_us p999_us achieved_rps"
measure() {
  local target="$1" args=()
  [[ -n "${headers[$target]:-}" ]] && args=(-H "${headers[$target]}")
  oha "${oha_args[@]}" -c "$CONNECTIONS" -z "$WARMUP" -q "$RATE" --latency-correction \
    "${args[@]}" "${url[$target]}" >"$work/oha.json" || fail "$target: oha failed (warm-up)"
  check_oha "$target (warm-up)" >/dev/null
  oha "${oha_args[@]}" -c "$CONNECTIONS" -z "$DURATION" -q "$RATE" --latency-correction \
    "${args[@]}" "${url[$target]}" >"$work/oha.json" || fail "$target: oha failed"
  check_oha "$target"
}

# check_oha NAME: reads $work/oha.json; stops on any error or non-2xx answer, else prints
# "p50_us p99_us p999_us achieved_rps".
check_oha() {
  python3 - "$work/oha.json" "$1" <<'PY'
import json, sys
path, name = sys.argv[1], sys.argv[2]
try:
    report = json.load(open(path))
except ValueError as err:
    sys.exit(f"bench/open_loop.sh: {name}: oha's output is not JSON ({err}): {open(path).read()[:500]}")
codes = report.get("statusCodeDistribution", {})
errors = report.get("errorDistribution", {})
bad = {code: count for code, count in codes.items() if not code.startswith("2")}
ok = sum(count for code, count in codes.items() if code.startswith("2"))
if errors or bad or ok == 0:
    sys.exit(f"bench/open_loop.sh: {name}: {ok} answered 2xx; other statuses {bad}; errors {errors}")
p = report["latencyPercentiles"]
us = lambda seconds: round(seconds * 1e6)
print(us(p["p50"]), us(p["p99"]), us(p["p99.9"]), round(report["summary"]["requestsPerSec"]))
PY
}

echo "oha -c$CONNECTIONS -q$RATE --latency-correction (keep-alive), $DURATION per target (after $WARMUP at the same rate), $ROUNDS rounds"
echo "host: $(nproc) CPUs shared by oha, the nginx upstream, nginx and sessiongate; SESSIONGATE_LOG=$SESSIONGATE_LOG"
read -r -a order <<<"$TARGETS"
results="$work/results"
behind=0
for ((round = 1; round <= ROUNDS; round++)); do
  for ((i = 0; i < ${#order[@]}; i++)); do
    target="${order[$(((i + round - 1) % ${#order[@]}))]}"
    read -r p50 p99 p999 achieved < <(measure "$target")
    note=""
    if ((achieved * 100 < RATE * 97)); then
      note="  behind the rate"
      behind=$((behind + 1))
    fi
    printf 'round %d  %-9s p50 %7dus  p99 %7dus  p99.9 %7dus  %8d req/s%s\n' \
      "$round" "$target" "$p50" "$p99" "$p999" "$achieved" "$note"
    echo "$round $target $p50 $p99 $p999 $achieved" >>"$results"
  done
done

summarize "$results" \
  "-" "-latency ratios at $RATE requests/s (per round, then median over rounds)" \
  "gw_auth p99 / nginx p99    (P2, <= 1.0)|gw_auth|nginx|1" \
  "gw_none p99 / nginx p99|gw_none|nginx|1" \
  "gw_auth p50 / nginx p50|gw_auth|nginx|0" \
  "gw_auth p99.9 / nginx p99.9|gw_auth|nginx|2" \
  "gw_auth p99 / gw_none p99|gw_auth|gw_none|1"
if ((behind > 0)); then
  echo "warning: $behind run(s) achieved less than 97 % of $RATE requests/s: the generator or the target fell behind" >&2
fi
