# shellcheck shell=bash
# Shared set-up of the side-by-side proxy benches (bench/proxy.sh, bench/open_loop.sh,
# bench/protocols.sh): sourced, not run. The sourcing script cds to the repository root, sets
# BENCH_NAME (for messages) and then calls, in this order:
#
#   require_tools HINT TOOL...     stop, naming HINT, when a tool is missing
#   gateway_binary                 BIN: GATEWAY_BIN, or target/release/sessiongate built unless
#                                  NO_BUILD=1
#   start_workdir                  work (a temp dir), pids, a cleanup trap stopping every server
#   start_upstream                 upstream_port, body: nginx, one worker, 1 KiB for every path
#   nginx_conf / start_nginx       more nginx servers (e.g. the reference proxy) in front of it
#   start_reference_nginx          nginx_port: nginx as the reference HTTP/1.1 proxy (workers
#                                  auto, upstream keepalive 128, access log off)
#   start_gateway NAME [VAR=VALUE...]
#                                  sessiongate in front of the upstream, its ready line read from
#                                  a FIFO; sets gateway (its client URL) and gateway_pid
#   mint_token URL                 an anonymous login's access token, printed
#   check_target NAME URL [CURL_ARGS...]
#                                  200 with the 1 KiB body, or stop
#   define_targets TOKEN           url and headers (global arrays) of upstream, nginx, gw_auth,
#                                  gw_none; every target in TARGETS checked, and gw_auth's
#                                  refusal without TOKEN
#   wrk_measure NAME WRK_ARGS...   one closed-loop wrk run: "rps p50_us p99_us", or stop on
#                                  any failed request
#   summarize RESULTS SPEC...      median ratios with their spread over the rounds
#
# The gateway reads every SESSIONGATE_* variable of its environment as configuration, so the
# scripts' own settings avoid that prefix (GATEWAY_BIN, not SESSIONGATE_BIN), except
# SESSIONGATE_LOG, which is meant for the gateway.

APP_ID="myapp-abcde" # [app] id in config/sessiongate.toml

fail() {
  echo "$BENCH_NAME: $*" >&2
  exit 1
}

# require_tools HINT TOOL...: HINT says how to install them ("on Debian: apt-get install ...").
require_tools() {
  local hint="$1" tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "$tool is not installed; $hint"
  done
}

# Sets BIN: GATEWAY_BIN when given (nothing is built), else target/release/sessiongate, built
# first unless NO_BUILD=1.
gateway_binary() {
  BIN="${GATEWAY_BIN:-target/release/sessiongate}"
  if [[ "${NO_BUILD:-0}" != 1 && -z "${GATEWAY_BIN:-}" ]]; then
    cargo build --release --quiet --bin sessiongate
  fi
  [[ -x "$BIN" ]] || fail "$BIN is not an executable sessiongate binary"
}

# A temp dir for configs, logs and results, and an exit trap that stops every server started
# (their pids in `pids`) and removes it.
start_workdir() {
  work="$(mktemp -d)"
  pids=()
  launcher=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ready URL [CURL_ARGS...]: waits (bounded) until URL answers 200; nginx prints no ready
# line.
wait_ready() {
  local url="$1" tries=0
  shift
  until curl -sf -o /dev/null "$@" "$url"; do
    ((tries++ < 100)) || fail "$url did not answer within 10s"
    sleep 0.1
  done
}

# nginx_conf NAME WORKERS SERVER_BLOCK: writes $work/NAME.conf, an nginx config with the
# benches' common http settings (no access log, temp paths in $work, unlimited keep-alive
# requests) around SERVER_BLOCK.
nginx_conf() {
  mkdir -p "$work/nginx-temp"
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

# start_nginx NAME: starts nginx with $work/NAME.conf in the background (stopped on exit).
start_nginx() {
  nginx -p "$work" -e "$work/$1.error.log" -c "$work/$1.conf" &
  pids+=("$!")
}

# The upstream: nginx, one worker, `return 200` with a 1 KiB body for every path. Sets
# upstream_port and body.
start_upstream() {
  upstream_port="$(free_port)"
  body="$(head -c 1024 /dev/zero | tr '\0' 'x')"
  nginx_conf upstream 1 "server {
    listen 127.0.0.1:$upstream_port;
    location / { default_type application/octet-stream; return 200 \"$body\"; }
  }"
  start_nginx upstream
  wait_ready "http://127.0.0.1:$upstream_port/ready"
}

# The reference proxy's upstream block and location, for nginx_conf's SERVER_BLOCK: HTTP/1.1 to
# the upstream, keeping up to KEEPALIVE (default 128) idle connections to it per worker. nginx
# closes a connection it would keep beyond that: with more requests in flight than KEEPALIVE it
# opens and closes upstream connections all the time (hyper-util's pool keeps every one).
nginx_proxy_upstream() {
  echo "upstream backend { server 127.0.0.1:$upstream_port; keepalive ${1:-128}; }"
}
# nginx_proxy_location [DIRECTIVES]: DIRECTIVES go inside the location (a proxy_set_header at the
# server level would not be inherited: the location has its own).
# shellcheck disable=SC2120 # DIRECTIVES are optional
nginx_proxy_location() {
  echo "location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";${1:+
      $1}
    }"
}

# start_gateway NAME [VAR=VALUE...]: starts sessiongate (config/sessiongate.toml, its own SQLite
# file, any ports, the upstream above, plus the VAR=VALUE settings) with stdout on a FIFO and
# reads its ready line (no sleeps). Sets gateway to its client URL and gateway_pid. An array
# `launcher` (e.g. valgrind ...), when set, is put before the binary.
start_gateway() {
  local name="$1" line fd
  shift
  mkfifo "$work/$name.out"
  env SESSIONGATE_STORE__URL="sqlite://$work/$name.db" \
    SESSIONGATE_UPSTREAM__URL="http://127.0.0.1:$upstream_port" \
    SESSIONGATE_SERVER__LISTEN=127.0.0.1:0 \
    SESSIONGATE_SERVER__ADMIN_LISTEN=127.0.0.1:0 \
    SESSIONGATE_SERVER__SHUTDOWN_GRACE=1s \
    "$@" "${launcher[@]}" "$BIN" serve --config config/sessiongate.toml \
    >"$work/$name.out" 2>"$work/$name.log" &
  pids+=("$!")
  # shellcheck disable=SC2034 # read by the sourcing script
  gateway_pid="$!"
  exec {fd}<"$work/$name.out"
  IFS= read -r -t 300 line <&"$fd" || {
    cat "$work/$name.log" >&2
    fail "$name exited or did not report ready within 300s"
  }
  # "sessiongate ready client=http://IP:PORT admin=http://IP:PORT"
  [[ "$line" == "sessiongate ready client="* ]] || fail "unexpected $name output: $line"
  gateway="${line#*client=}"
  gateway="${gateway%% *}"
}

# callgrind_launcher FILE: sets `launcher` so that start_gateway runs the gateway under valgrind's
# callgrind, writing to FILE(.N per dump), collecting only inside tokio's worker loop (no
# start-up, no blocking pool) and the client listener's per-core runtimes.
callgrind_launcher() {
  launcher=(valgrind --tool=callgrind --callgrind-out-file="$1" --dump-instr=no
    # Only the async workers: not the start-up work that blocking threads finish meanwhile
    # (the user-agent parser is built in the background after the ready line).
    --toggle-collect='tokio::runtime::scheduler::multi_thread::worker::run'
    # The client listener's per-core runtimes (src/server/cores.rs).
    --toggle-collect='sessiongate::server::cores::run_core')
}

# callgrind_count PID FILE LABEL REQUESTS COMMAND...: zeroes the counters of the gateway PID
# (started with callgrind_launcher FILE), runs COMMAND, dumps as LABEL and prints the
# instructions executed per request (the dump's total / REQUESTS). KEEP_DUMPS=DIR keeps the
# dump as DIR/callgrind.LABEL.
callgrind_count() {
  local pid="$1" file="$2" label="$3" requests="$4" dump total
  shift 4
  # Called in $(...), where set -e does not hold: every step checks for itself.
  callgrind_control --zero "$pid" >/dev/null || fail "callgrind_control --zero $pid failed"
  "$@" || fail "$label: the measured requests failed"
  callgrind_control --dump="$label" "$pid" >/dev/null || fail "callgrind_control --dump $pid failed"
  # shellcheck disable=SC2012 # callgrind's own names (FILE.N), newest first
  dump="$(ls -t "$file".* | head -1)"
  [[ -n "${KEEP_DUMPS:-}" ]] && cp "$dump" "$KEEP_DUMPS/callgrind.${label//\//_}"
  total="$(sed -n 's/^summary: //p; s/^totals: //p' "$dump" | head -1 | cut -d' ' -f1)"
  echo "$((total / requests))"
}

# mint_token URL [CURL_ARGS...]: prints the access token of an anonymous login at the gateway URL.
mint_token() {
  local url="$1" login token
  shift
  login="$(curl -sS -f "$@" -X POST "$url/api/client/v2.0/app/$APP_ID/auth/providers/anon-user/login")" ||
    fail "anonymous login at $url failed"
  token="$(sed -E 's/.*"access_token":"([^"]*)".*/\1/' <<<"$login")"
  [[ -n "$token" && "$token" != "$login" ]] || fail "no access_token in the login answer: $login"
  echo "$token"
}

# check_target NAME URL [CURL_ARGS...]: URL must answer 200 with the 1 KiB body.
check_target() {
  local name="$1" url="$2" size
  shift 2
  size="$(curl -sS -f -o /dev/null -w '%{size_download}' "$@" "$url")" ||
    fail "$name: $url did not answer 200"
  [[ "$size" == 1024 ]] || fail "$name: expected the 1 KiB body, got $size bytes"
}

# check_refused URL [CURL_ARGS...]: the gateway's required route must refuse a request without
# a token.
check_refused() {
  local url="$1" status
  shift
  status="$(curl -sS -o /dev/null -w '%{http_code}' "$@" "$url")"
  [[ "$status" == 401 ]] || fail "$url without a token answered $status, not 401"
}

# start_reference_nginx: nginx as issue 13's reference reverse proxy in front of the upstream,
# on nginx_port, ready.
start_reference_nginx() {
  nginx_port="$(free_port)"
  nginx_conf nginx auto "$(nginx_proxy_upstream 128)
  server {
    listen 127.0.0.1:$nginx_port;
    $(nginx_proxy_location)
  }"
  start_nginx nginx
  wait_ready "http://127.0.0.1:$nginx_port/ready"
}

# define_targets TOKEN: the global arrays url and headers for the four HTTP/1.1 targets (nginx
# as the reference proxy on nginx_port, the gateway at gateway), then every target named in
# TARGETS must answer 200 with the 1 KiB body, and the gateway's required route must refuse a
# request without TOKEN.
define_targets() {
  declare -gA url headers
  url[upstream]="http://127.0.0.1:$upstream_port/data/items"
  url[nginx]="http://127.0.0.1:$nginx_port/data/items"
  url[gw_auth]="$gateway/data/items"
  url[gw_none]="$gateway/public/items"
  headers[gw_auth]="Authorization: Bearer $1"
  local target args
  for target in $TARGETS; do
    args=()
    [[ -n "${headers[$target]:-}" ]] && args=(-H "${headers[$target]}")
    check_target "$target" "${url[$target]}" "${args[@]}"
  done
  check_refused "${url[gw_auth]}"
}

# wrk_measure NAME WRK_ARGS...: one wrk run (closed loop), reporting through a Lua script:
# prints "rps p50_us p99_us". Stops when any request failed: wrk counts every kind of error
# (non-2xx, connect, read, write, timeout) so a run full of 401s or resets cannot pass for a
# fast one.
wrk_measure() {
  local name="$1" out rps p50 p99 requests errors
  shift
  if [[ ! -f "$work/report.lua" ]]; then
    cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT %.0f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50),
    latency:percentile(99), summary.requests, errors))
end
LUA
  fi
  out="$(wrk -s "$work/report.lua" "$@")"
  read -r rps p50 p99 requests errors < <(grep '^RESULT ' <<<"$out" | cut -d' ' -f2-) ||
    fail "no result from wrk for $name: $out"
  ((errors == 0)) || fail "$name: $errors of $requests requests failed (non-2xx or socket errors)"
  echo "$rps $p50 $p99"
}

# summarize RESULTS HEADER RATIO...: RESULTS has lines "ROUND TARGET VALUE..."; each RATIO is
# "LABEL|A|B|INDEX" (INDEX: which VALUE, from 0) and prints the median of A/B over the rounds
# with its spread (min..max). A line "-LABEL" prints LABEL as a heading.
summarize() {
  python3 - "$@" <<'PY'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    rnd, target, *values = line.split()
    by.setdefault(int(rnd), {})[target] = [float(v) for v in values]
for spec in sys.argv[2:]:
    if spec.startswith("-"):
        print(spec[1:])
        continue
    label, a, b, index = spec.split("|")
    index = int(index)
    values = [r[a][index] / r[b][index] for r in by.values() if a in r and b in r]
    if values:
        print(f"{label:<40} median {statistics.median(values):5.2f}x  spread {min(values):.2f}..{max(values):.2f}")
PY
}
