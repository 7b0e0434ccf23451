#!/usr/bin/env bash
# Proxy cost, side by side with nginx (issue 13's method). In one run, on 127.0.0.1:
#
#   upstream   nginx, one worker, a 1 KiB body for every path
#   nginx      nginx as the reference reverse proxy (worker_processes auto, upstream keepalive
#              128, access log off) in front of that upstream
#   gw_auth    sessiongate, a required-auth route, valid Bearer token (a cache hit)
#   gw_none    sessiongate, the `auth = "none"` route (/public), same binary
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
# CALLGRIND=1 runs the gateway under valgrind's callgrind instead and prints the instructions it
# executes per request on each gateway target (REQUESTS, default 2000, over one keep-alive
# connection, after 200 untimed ones): a count that does not depend on what else the machine
# does, for comparing two builds (build with CARGO_PROFILE_RELEASE_DEBUG=line-tables-only and
# open the dumps with callgrind_annotate to see where they go; KEEP_DUMPS=DIR keeps them).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-1}"
CONNECTIONS="${CONNECTIONS:-64}"
WARMUP="${WARMUP:-2s}"
ROUNDS="${ROUNDS:-3}"
TARGETS="${TARGETS:-upstream nginx gw_auth gw_none}"
export SESSIONGATE_LOG="${SESSIONGATE_LOG:-warn}"
APP_ID="myapp-abcde" # [app] id in config/sessiongate.toml

fail() {
  echo "bench/proxy.sh: $*" >&2
  exit 1
}

CALLGRIND="${CALLGRIND:-0}"
tools=(wrk curl nginx python3)
[[ "$CALLGRIND" == 1 ]] && tools=(valgrind callgrind_control curl nginx python3)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null ||
    fail "$tool is not installed; on Debian: apt-get install -y wrk curl nginx-light python3 valgrind"
done

BIN="${GATEWAY_BIN:-target/release/sessiongate}"
if [[ "${NO_BUILD:-0}" != 1 && -z "${GATEWAY_BIN:-}" ]]; then
  cargo build --release --quiet --bin sessiongate
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

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (bounded) until URL answers 200: nginx prints no ready line.
wait_ready() {
  local url="$1" tries=0
  until curl -sf -o /dev/null "$url"; do
    ((tries++ < 100)) || fail "$url did not answer within 10s"
    sleep 0.1
  done
}

upstream_port="$(free_port)"
nginx_port="$(free_port)"
body="$(head -c 1024 /dev/zero | tr '\0' 'x')"
mkdir -p "$work/nginx-temp"

# nginx_conf NAME WORKERS SERVER_BLOCK
nginx_conf() {
  cat >"$work/$1.conf" <<CONF
worker_processes $2;
daemon off;
pid $work/$1.pid;
error_log $work/$1.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-temp/body;
  proxy_temp_path $work/nginx-temp/proxy;
  fastcgi_temp_path $work/nginx-temp/fastcgi;
  uwsgi_temp_path $work/nginx-temp/uwsgi;
  scgi_temp_path $work/nginx-temp/scgi;
  keepalive_requests 1000000;
  $3
}
CONF
}

nginx_conf upstream 1 "server {
    listen 127.0.0.1:$upstream_port;
    location / { default_type application/octet-stream; return 200 \"$body\"; }
  }"
nginx_conf nginx auto "upstream backend { server 127.0.0.1:$upstream_port; keepalive 128; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
for name in upstream nginx; do
  nginx -p "$work" -e "$work/$name.error.log" -c "$work/$name.conf" &
  pids+=("$!")
done
wait_ready "http://127.0.0.1:$upstream_port/ready"
wait_ready "http://127.0.0.1:$nginx_port/ready"

# Starts sessiongate with stdout on a FIFO and reads its ready line (no sleeps).
mkfifo "$work/sessiongate.out"
launcher=()
[[ "$CALLGRIND" == 1 ]] &&
  launcher=(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --dump-instr=no
    # Only the async workers: not the start-up work that blocking threads finish meanwhile
    # (the user-agent parser is built in the background after the ready line).
    --toggle-collect='tokio::runtime::scheduler::multi_thread::worker::run'
    # The client listener's per-core runtimes (src/server/cores.rs).
    --toggle-collect='sessiongate::server::cores::run_core')
env SESSIONGATE_STORE__URL="sqlite://$work/sessiongate.db" \
  SESSIONGATE_UPSTREAM__URL="http://127.0.0.1:$upstream_port" \
  SESSIONGATE_SERVER__LISTEN=127.0.0.1:0 \
  SESSIONGATE_SERVER__ADMIN_LISTEN=127.0.0.1:0 \
  SESSIONGATE_SERVER__SHUTDOWN_GRACE=1s \
  "${launcher[@]}" "$BIN" serve --config config/sessiongate.toml \
  >"$work/sessiongate.out" 2>"$work/sessiongate.log" &
pids+=("$!")
exec {fd}<"$work/sessiongate.out"
IFS= read -r -t 300 line <&"$fd" || {
  cat "$work/sessiongate.log" >&2
  fail "sessiongate exited or did not report ready within 300s"
}
# "sessiongate ready client=http://IP:PORT admin=http://IP:PORT"
[[ "$line" == "sessiongate ready client="* ]] || fail "unexpected sessiongate output: $line"
gateway="${line#*client=}"
gateway="${gateway%% *}"

login="$(curl -sS -f -X POST "$gateway/api/client/v2.0/app/$APP_ID/auth/providers/anon-user/login")" ||
  fail "anonymous login failed"
token="$(sed -E 's/.*"access_token":"([^"]*)".*/\1/' <<<"$login")"
[[ -n "$token" && "$token" != "$login" ]] || fail "no access_token in the login answer: $login"

declare -A url headers
url[upstream]="http://127.0.0.1:$upstream_port/data/items"
url[nginx]="http://127.0.0.1:$nginx_port/data/items"
url[gw_auth]="$gateway/data/items"
url[gw_none]="$gateway/public/items"
headers[gw_auth]="Authorization: Bearer $token"

# Every target must answer 200 with the 1 KiB body before anything is measured; the gateway's
# required route must refuse a request without the token.
for target in $TARGETS; do
  args=()
  [[ -n "${headers[$target]:-}" ]] && args=(-H "${headers[$target]}")
  size="$(curl -sS -f -o /dev/null -w '%{size_download}' "${args[@]}" "${url[$target]}")" ||
    fail "$target: ${url[$target]} did not answer 200"
  [[ "$size" == 1024 ]] || fail "$target: expected the 1 KiB body, got $size bytes"
done
status="$(curl -sS -o /dev/null -w '%{http_code}' "${url[gw_auth]}")"
[[ "$status" == 401 ]] || fail "gw_auth without a token answered $status, not 401"

if [[ "$CALLGRIND" == 1 ]]; then
  REQUESTS="${REQUESTS:-2000}"
  gateway_pid="${pids[-1]}"
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
  echo "callgrind: instructions the gateway executes per request, $REQUESTS requests per target"
  for target in $TARGETS; do
    [[ "$target" == gw_* ]] || continue
    requests "$target" 200
    callgrind_control --zero "$gateway_pid" >/dev/null
    requests "$target" "$REQUESTS"
    callgrind_control --dump="$target" "$gateway_pid" >/dev/null
    dump="$(ls -t "$work"/callgrind.out.* | head -1)"
    [[ -n "${KEEP_DUMPS:-}" ]] && cp "$dump" "$KEEP_DUMPS/callgrind.$target"
    total="$(sed -n 's/^summary: //p; s/^totals: //p' "$dump" | head -1 | cut -d' ' -f1)"
    printf '%-9s %10d instructions per request\n' "$target" "$((total / REQUESTS))"
  done
  exit 0
fi

# wrk reports through this script: requests/s and exact percentiles in microseconds, plus
# every kind of error so a run full of 401s or resets cannot pass for a fast one.
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT %.0f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50),
    latency:percentile(99), summary.requests, errors))
end
LUA

# measure TARGET -> prints "rps p50_us p99_us"
measure() {
  local target="$1" args=()
  [[ -n "${headers[$target]:-}" ]] && args=(-H "${headers[$target]}")
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" "${args[@]}" "${url[$target]}" >/dev/null
  local out rps p50 p99 requests errors
  out="$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" -s "$work/report.lua" "${args[@]}" "${url[$target]}")"
  read -r rps p50 p99 requests errors < <(grep '^RESULT ' <<<"$out" | cut -d' ' -f2-) ||
    fail "no result from wrk for $target: $out"
  ((errors == 0)) || fail "$target: $errors of $requests requests failed (non-2xx or socket errors)"
  echo "$rps $p50 $p99"
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

python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for rnd, target, rps, p50, p99 in rows:
    by.setdefault(int(rnd), {})[target] = (float(rps), float(p99))
def ratio(name, a, b, index, lower_is_better=False):
    values = [r[a][index] / r[b][index] for r in by.values() if a in r and b in r]
    if values:
        print(f"{name:<40} median {statistics.median(values):5.2f}x  spread {min(values):.2f}..{max(values):.2f}")
print()
print("requests/s ratios (per round, then median over rounds)")
ratio("nginx / upstream", "nginx", "upstream", 0)
ratio("gw_auth / nginx          (P1, >= 1.0)", "gw_auth", "nginx", 0)
ratio("gw_none / nginx", "gw_none", "nginx", 0)
ratio("gw_auth / gw_none        (P1b, >= 0.98)", "gw_auth", "gw_none", 0)
print("p99 ratios (closed loop)")
ratio("gw_auth p99 / nginx p99", "gw_auth", "nginx", 1)
PY
