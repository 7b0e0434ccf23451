#!/usr/bin/env bash
# Proxy cost, side by side with nginx (issue 13's method). In one run, on 127.0.0.1:
#
#   upstream   nginx, one worker, a 1 KiB body for every path
#   nginx      nginx as the reference reverse proxy (worker_processes auto, upstream keepalive
#              128, access log off) in front of that upstream
#   gw_auth    sessiongate, a required-auth route, valid Bearer token (a cache hit)
#   gw_none    sessiongate, the `auth = "none"` route (/public), same binary
#   gw_info    gw_auth on a second gateway logging at `info` (the access line on every request),
#              not measured unless named in TARGETS: TARGETS="nginx gw_auth gw_info" prints
#              what the access log costs (gw_info / gw_auth)
#
# Targets are measured in turn, the order rotating every round, ROUNDS times; the script prints
# each round and then the median ratio with its spread (min..max) over the rounds. Only ratios
# mean something on a shared machine.
#
#   bench/proxy.sh
#   ROUNDS=5 DURATION=10s bench/proxy.sh
#   SESSIONGATE_LOG=info bench/proxy.sh          # with the per-request access line
#
# Settings (environment): DURATION (10s), THREADS (1), CONNECTIONS (64), WARMUP (2s, untimed wrk
# run before each measured one), ROUNDS (3), SESSIONGATE_LOG (warn; "info" is the shipped
# default and logs a line per request), TARGETS (the targets to measure, default all four),
# NO_BUILD=1 (use target/release/sessiongate as it is), GATEWAY_BIN (another binary to
# measure, e.g. a copy of an earlier build; implies NO_BUILD).
#
# CALLGRIND=1 runs the gateway (and, for scale, a one-worker nginx proxy) under valgrind's
# callgrind instead and prints the instructions each executes per request (REQUESTS, default
# 2000, over one keep-alive connection, after 200 untimed ones): a count that does not depend on what else the machine
# does, for comparing two builds (build with CARGO_PROFILE_RELEASE_DEBUG=line-tables-only and
# open the dumps with callgrind_annotate to see where they go; KEEP_DUMPS=DIR keeps them).
#
# The set-up (nginx configs, servers, token, checks, cleanup) is shared with bench/open_loop.sh
# and bench/protocols.sh in bench/lib/proxy_setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-1}"
CONNECTIONS="${CONNECTIONS:-64}"
WARMUP="${WARMUP:-2s}"
ROUNDS="${ROUNDS:-3}"
TARGETS="${TARGETS:-upstream nginx gw_auth gw_none}"
export SESSIONGATE_LOG="${SESSIONGATE_LOG:-warn}"
BENCH_NAME=bench/proxy.sh
# shellcheck source=bench/lib/proxy_setup.sh
source bench/lib/proxy_setup.sh

CALLGRIND="${CALLGRIND:-0}"
tools=(wrk curl nginx python3)
[[ "$CALLGRIND" == 1 ]] && tools=(valgrind callgrind_control curl nginx python3)
require_tools "on Debian: apt-get install -y wrk curl nginx-light python3 valgrind" "${tools[@]}"

gateway_binary
start_workdir
start_upstream
start_reference_nginx

[[ "$CALLGRIND" == 1 ]] && callgrind_launcher "$work/callgrind.out"
if [[ " $TARGETS " == *" gw_info "* ]]; then
  [[ "$CALLGRIND" == 1 ]] && fail "gw_info is not counted under callgrind: use SESSIONGATE_LOG=info"
  start_gateway sessiongate_info SESSIONGATE_LOG=info
  declare -gA url headers
  url[gw_info]="$gateway/data/items"
  headers[gw_info]="Authorization: Bearer $(mint_token "$gateway")"
fi
start_gateway sessiongate
token="$(mint_token "$gateway")"

# Every target must answer 200 with the 1 KiB body before anything is measured.
define_targets "$token"

if [[ "$CALLGRIND" == 1 ]]; then
  REQUESTS="${REQUESTS:-2000}"
  # requests TARGET COUNT: COUNT keep-alive GETs, each must answer 200 with the 1 KiB body.
  requests() {
    python3 - "${url[$1]}" "$2" "${headers[$1]:-}" <<'PY'
import http.client, sys, urllib.parse
url, count, header = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
headers = dict([header.split(": ", 1)]) if header else {}
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
for _ in range(count):
    conn.request("GET", url.path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200 or len(body) != 1024:
        sys.exit(f"{sys.argv[1]}: {response.status}, {len(body)} bytes")
PY
  }
  # nginx, for scale: the reference proxy again, one worker and no master process, so that the
  # process under callgrind is the one that proxies (the whole process is counted).
  if [[ " $TARGETS " == *" nginx "* ]]; then
    cg_nginx_port="$(free_port)"
    nginx_conf nginx_cg 1 "$(nginx_proxy_upstream 128)
  server {
    listen 127.0.0.1:$cg_nginx_port;
    $(nginx_proxy_location)
  }"
    valgrind --tool=callgrind --callgrind-out-file="$work/nginx.callgrind.out" --dump-instr=no \
      nginx -p "$work" -e "$work/nginx_cg.error.log" -c "$work/nginx_cg.conf" \
      -g 'master_process off;' 2>"$work/nginx_cg.valgrind.log" &
    pids+=("$!")
    cg_nginx_pid="$!"
    wait_ready "http://127.0.0.1:$cg_nginx_port/ready"
    url[nginx]="http://127.0.0.1:$cg_nginx_port/data/items"
  fi
  echo "callgrind: instructions executed per request, $REQUESTS requests per target"
  for target in $TARGETS; do
    case "$target" in
      gw_*) pid="$gateway_pid" out="$work/callgrind.out" ;;
      nginx) pid="$cg_nginx_pid" out="$work/nginx.callgrind.out" ;;
      *) continue ;;
    esac
    requests "$target" 200
    per_request="$(callgrind_count "$pid" "$out" "$target" "$REQUESTS" \
      requests "$target" "$REQUESTS")"
    printf '%-9s %10d instructions per request\n' "$target" "$per_request"
  done
  exit 0
fi

# measure TARGET -> prints "rps p50_us p99_us"
measure() {
  local target="$1" args=()
  [[ -n "${headers[$target]:-}" ]] && args=(-H "${headers[$target]}")
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" "${args[@]}" "${url[$target]}" >/dev/null
  wrk_measure "$target" -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" "${args[@]}" "${url[$target]}"
}

echo "wrk -t$THREADS -c$CONNECTIONS, $DURATION per target (after $WARMUP warm-up), $ROUNDS rounds"
echo "host: $(nproc) CPUs shared by wrk, the nginx upstream, nginx and sessiongate; SESSIONGATE_LOG=$SESSIONGATE_LOG"
read -r -a order <<<"$TARGETS"
results="$work/results"
for ((round = 1; round <= ROUNDS; round++)); do
  for ((i = 0; i < ${#order[@]}; i++)); do
    target="${order[$(((i + round - 1) % ${#order[@]}))]}"
    read -r rps p50 p99 < <(measure "$target")
    printf 'round %d  %-9s %8d req/s  p50 %6dus  p99 %6dus\n' "$round" "$target" "$rps" "$p50" "$p99"
    echo "$round $target $rps $p50 $p99" >>"$results"
  done
done

summarize "$results" \
  "-" "-requests/s ratios (per round, then median over rounds)" \
  "nginx / upstream|nginx|upstream|0" \
  "gw_auth / nginx          (P1, >= 1.0)|gw_auth|nginx|0" \
  "gw_none / nginx|gw_none|nginx|0" \
  "gw_auth / gw_none        (P1b, >= 0.98)|gw_auth|gw_none|0" \
  "gw_info / gw_auth  (access log, >= 0.97)|gw_info|gw_auth|0" \
  "-p99 ratios (closed loop)" \
  "gw_auth p99 / nginx p99|gw_auth|nginx|2"
