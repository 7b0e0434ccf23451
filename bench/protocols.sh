#!/usr/bin/env bash
# HTTP/2 and TLS from clients, side by side with nginx (issue 13: "HTTP/2 from clients (h2c
# prior knowledge and TLS ALPN) and TLS 1.3 each within 0.9 x of nginx doing the same"). In
# one run, on 127.0.0.1, in front of the same upstream as bench/proxy.sh (nginx, one worker,
# 1 KiB body; HTTP/1.1 keep-alive from both proxies to it):
#
#   protocol  client side                            load (h2load, one thread)
#   h2c       HTTP/2 over plain TCP, prior knowledge  -c CONNECTIONS -m STREAMS
#   h2_tls    HTTP/2 over TLS 1.3, chosen by ALPN      -c CONNECTIONS -m STREAMS
#   h1_tls    HTTP/1.1 over TLS 1.3 (ALPN http/1.1)    --h1 -c CONNECTIONS -m 1 (no pipelining)
#   h1        (not in the default PROTOCOLS) HTTP/1.1 over plain TCP, --h1 -m 1: the baseline
#             of proxy.sh, with the same client as the others
#   h1_tls_new  (not in the default PROTOCOLS) a new TLS 1.3 connection for every request:
#             wrk -t1 -c CONNECTIONS -H "Connection: close" over https, HTTP/1.1. Handshake
#             cost, with session resumption as each server offers it by default (nginx: session
#             tickets; rustls: TLS 1.3 tickets into a 256-entry in-memory cache) and wrk's
#             OpenSSL takes it
#
#   nginx     nginx as the reverse proxy (worker_processes auto, access log off,
#             keepalive_requests 1000000, upstream keepalive CONNECTIONS x STREAMS, at least
#             128): `listen ... http2` on a plain port (h2c only) and `listen ... ssl http2`
#             with ssl_protocols TLSv1.3 on another
#   gw_auth   sessiongate, a required-auth route, a valid Bearer token (a cache hit): h2c on a
#             plain listener (hyper-util's auto builder), TLS from a second sessiongate process
#             with [server.tls] (rustls, ALPN h2 and http/1.1)
#   gw_none   the same two processes, the `auth = "none"` route (/public), no token
#
# As in proxy.sh, nginx gets no Authorization header. Under HTTP/2 the header is not free: the
# client encodes the ~420-byte token as an HPACK literal on every request (nghttp2 never
# indexes authorization) and the server decodes it. NGINX_HEADER=1 sends nginx the same header
# as gw_auth, which nginx then drops before the upstream (`proxy_set_header Authorization ""`,
# as the gateway drops it): nginx doing the same protocol work, minus the token check.
# TOKEN_TO_NONE=1 sends the same header to gw_none too (the route ignores it): gw_auth minus
# gw_none is then the token check alone, without the header's decoding.
#
# Both servers use one self-signed certificate made with openssl in the temp dir (ECDSA P-256,
# or RSA 2048 with KEY_TYPE=rsa). Except for h1_tls_new, connections are opened during the
# warm-up, so the measured seconds carry no handshakes: steady-state request cost per protocol.
# Every (protocol, target) pair is measured in turn, ROUNDS times; the order of the protocols
# rotates every round, and so does the order of the targets within a protocol (measured one
# right after the other); the script prints each run and then, per protocol, the median ratio gw / nginx with
# its spread (min..max) over the rounds. It fails if any request was not answered 2xx, failed,
# errored or timed out, or the negotiated protocol is not the one asked for.
#
#   bench/protocols.sh
#   ROUNDS=5 DURATION=10s GATEWAY_BIN=/tmp/sg-bench/sessiongate bench/protocols.sh
#   PROTOCOLS=h2c TARGETS="nginx gw_auth" NGINX_HEADER=1 bench/protocols.sh
#   PROTOCOLS="h2c h2_tls h1_tls h1_tls_new" bench/protocols.sh     # with the handshake cost
#
# CALLGRIND=1 runs both gateways under valgrind's callgrind instead and prints the instructions
# they execute per request for each protocol and gateway target (REQUESTS, default 2000, over
# one connection, h2load -c1 -m1, after 200 untimed ones on another connection; the measured
# connection's set-up and TLS handshake are included, spread over REQUESTS): a count that does
# not depend on what else the machine does. Default PROTOCOLS there: h1 h2c h2_tls h1_tls;
# TARGETS: gw_auth gw_none. KEEP_DUMPS=DIR keeps the dumps, as in proxy.sh.
#
# Settings (environment): DURATION (10s, h2load -D), WARMUP (2s, h2load --warm-up-time),
# CONNECTIONS (64), STREAMS (10: concurrent streams per HTTP/2 connection), ROUNDS (3),
# PROTOCOLS (h2c h2_tls h1_tls), TARGETS (nginx gw_auth gw_none), NGINX_HEADER (0),
# TOKEN_TO_NONE (0), KEY_TYPE (ec), SESSIONGATE_LOG (warn), NO_BUILD=1, GATEWAY_BIN (another binary to measure; implies NO_BUILD).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
CONNECTIONS="${CONNECTIONS:-64}"
STREAMS="${STREAMS:-10}"
ROUNDS="${ROUNDS:-3}"
CALLGRIND="${CALLGRIND:-0}"
if [[ "$CALLGRIND" == 1 ]]; then
  PROTOCOLS="${PROTOCOLS:-h1 h2c h2_tls h1_tls}"
  TARGETS="${TARGETS:-gw_auth gw_none}"
else
  PROTOCOLS="${PROTOCOLS:-h2c h2_tls h1_tls}"
  TARGETS="${TARGETS:-nginx gw_auth gw_none}"
fi
NGINX_HEADER="${NGINX_HEADER:-0}"
TOKEN_TO_NONE="${TOKEN_TO_NONE:-0}"
KEY_TYPE="${KEY_TYPE:-ec}"
export SESSIONGATE_LOG="${SESSIONGATE_LOG:-warn}"

BENCH_NAME=bench/protocols.sh
# shellcheck source=bench/lib/proxy_setup.sh
source bench/lib/proxy_setup.sh

tools=(h2load curl nginx python3 openssl)
[[ " $PROTOCOLS " == *" h1_tls_new "* ]] && tools+=(wrk)
[[ "$CALLGRIND" == 1 ]] && tools+=(valgrind callgrind_control)
require_tools "on Debian: apt-get install -y nghttp2-client wrk curl nginx-light python3 openssl valgrind" \
  "${tools[@]}"
curl --version | grep -qw HTTP2 || fail "this curl has no HTTP/2 support"

for protocol in $PROTOCOLS; do
  [[ "$protocol" =~ ^(h1|h2c|h2_tls|h1_tls|h1_tls_new)$ ]] ||
    fail "unknown protocol $protocol (h1, h2c, h2_tls, h1_tls, h1_tls_new)"
  [[ "$CALLGRIND" == 1 && "$protocol" == h1_tls_new ]] && fail "CALLGRIND=1 does not measure h1_tls_new"
done
for target in $TARGETS; do
  [[ "$target" =~ ^(nginx|gw_auth|gw_none)$ ]] || fail "unknown target $target (nginx, gw_auth, gw_none)"
  [[ "$CALLGRIND" == 1 && "$target" == nginx ]] && fail "CALLGRIND=1 measures only the gateway targets"
done

gateway_binary
start_workdir
start_upstream

case "$KEY_TYPE" in
ec) key_args=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
rsa) key_args=(-newkey rsa:2048) ;;
*) fail "KEY_TYPE must be ec or rsa, not $KEY_TYPE" ;;
esac
openssl req -x509 "${key_args[@]}" -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log" ||
  fail "openssl could not make a certificate: $(cat "$work/openssl.log")"

h1_port="$(free_port)"
h2c_port="$(free_port)"
tls_port="$(free_port)"
# Upstream keepalive covers every request in flight (CONNECTIONS x STREAMS), so nginx does not
# churn upstream connections under HTTP/2 load; with proxy.sh's 128 and 640 streams in flight it
# opened and closed thousands a second.
keepalive=$((CONNECTIONS * STREAMS > 128 ? CONNECTIONS * STREAMS : 128))
nginx_conf nginx auto "$(nginx_proxy_upstream "$keepalive")
  server {
    listen 127.0.0.1:$h1_port;
    $(nginx_proxy_location 'proxy_set_header Authorization "";')
  }
  server {
    listen 127.0.0.1:$h2c_port http2;
    $(nginx_proxy_location 'proxy_set_header Authorization "";')
  }
  server {
    listen 127.0.0.1:$tls_port ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    $(nginx_proxy_location 'proxy_set_header Authorization "";')
  }"
start_nginx nginx
wait_ready "http://127.0.0.1:$h1_port/ready"
wait_ready "http://127.0.0.1:$h2c_port/ready" --http2-prior-knowledge
wait_ready "https://127.0.0.1:$tls_port/ready" -k

# Two gateways on the same upstream: a listener is either plain (HTTP/1.1 and h2c) or TLS.
# Each has its own store, so each mints its own token.
[[ "$CALLGRIND" == 1 ]] && callgrind_launcher "$work/callgrind.plain"
start_gateway sessiongate
gw_plain="$gateway"
pid_plain="$gateway_pid"
token_plain="$(mint_token "$gw_plain")"
[[ "$CALLGRIND" == 1 ]] && callgrind_launcher "$work/callgrind.tls"
start_gateway sessiongate_tls \
  SESSIONGATE_SERVER__TLS__CERT_FILE="$work/cert.pem" \
  SESSIONGATE_SERVER__TLS__KEY_FILE="$work/key.pem"
gw_tls="$gateway"
pid_tls="$gateway_pid"
[[ "$gw_tls" == https://* ]] || fail "the TLS gateway reported $gw_tls, not an https URL"
token_tls="$(mint_token "$gw_tls" -k)"

# url PROTOCOL TARGET, header PROTOCOL TARGET (empty: none)
url() {
  local base path=/data/items
  [[ "$2" == gw_none ]] && path=/public/items
  case "$1:$2" in
  h1:nginx) base="http://127.0.0.1:$h1_port" ;;
  h2c:nginx) base="http://127.0.0.1:$h2c_port" ;;
  *:nginx) base="https://127.0.0.1:$tls_port" ;;
  h1:* | h2c:*) base="$gw_plain" ;;
  *) base="$gw_tls" ;;
  esac
  echo "$base$path"
}
header() {
  case "$1:$2" in
  h1:gw_auth | h2c:gw_auth) echo "authorization: Bearer $token_plain" ;;
  *:gw_auth) echo "authorization: Bearer $token_tls" ;;
  h1:gw_none | h2c:gw_none) [[ "$TOKEN_TO_NONE" != 1 ]] || echo "authorization: Bearer $token_plain" ;;
  *:gw_none) [[ "$TOKEN_TO_NONE" != 1 ]] || echo "authorization: Bearer $token_tls" ;;
  *:nginx) [[ "$NGINX_HEADER" != 1 ]] || echo "authorization: Bearer $token_tls" ;;
  esac
}
# curl's options for PROTOCOL, and the HTTP version it must report
curl_args() {
  case "$1" in
  h1) echo "--http1.1" ;;
  h2c) echo "--http2-prior-knowledge" ;;
  h2_tls) echo "-k --http2" ;;
  h1_tls) echo "-k --http1.1" ;;
  h1_tls_new) echo "-k --http1.1 -H Connection:close" ;;
  esac
}
declare -A curl_version=([h1]=1.1 [h2c]=2 [h2_tls]=2 [h1_tls]=1.1 [h1_tls_new]=1.1)
declare -A alpn=([h1]=http/1.1 [h2c]=h2c [h2_tls]=h2 [h1_tls]=http/1.1)

# Every pair must answer 200 with the 1 KiB body over the protocol asked for before anything is
# measured; the gateway's required route must refuse a request without the token.
for protocol in $PROTOCOLS; do
  read -r -a args <<<"$(curl_args "$protocol")"
  for target in $TARGETS; do
    auth=()
    [[ -n "$(header "$protocol" "$target")" ]] && auth=(-H "$(header "$protocol" "$target")")
    check_target "$protocol/$target" "$(url "$protocol" "$target")" "${args[@]}" "${auth[@]}"
    version="$(curl -sS -o /dev/null -w '%{http_version}' "${args[@]}" "${auth[@]}" "$(url "$protocol" "$target")")"
    [[ "$version" == "${curl_version[$protocol]}" ]] ||
      fail "$protocol/$target: answered over HTTP/$version, not HTTP/${curl_version[$protocol]}"
  done
  check_refused "$(url "$protocol" gw_auth)" "${args[@]}"
done

# h2load_args PROTOCOL TARGET: h2load's options for the pair besides -c/-D/-n
h2load_args() {
  case "$1" in
  h1 | h1_tls) echo "--h1 -m 1" ;;
  *) echo "-m $STREAMS" ;;
  esac
}

# h2load_checked OUT NAME ALPN H2LOAD_ARGS...: runs h2load with its output in OUT and checks it:
# every request answered 2xx (none failed, errored or timed out), the protocol negotiated is
# ALPN, TLS 1.3 for the *_tls protocols (NAME is PROTOCOL/TARGET), no TLS for the others. Prints "rps mean=LATENCY tls_protocol cipher".
h2load_checked() {
  local out="$1" name="$2" expected="$3"
  shift 3
  h2load "$@" >"$out" 2>&1 || fail "$name: h2load failed: $(tail -5 "$out")"
  python3 - "$out" "$name" "$expected" <<'PY'
import re, sys
text, name, alpn = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
def find(pattern):
    match = re.search(pattern, text, re.M)
    if not match:
        sys.exit(f"bench/protocols.sh: {name}: no '{pattern}' in h2load's output:\n{text[-2000:]}")
    return match.groups()
rps, = find(r"^finished in \S+, ([\d.]+) req/s")
total, ok, failed, errored, timeout = map(int, find(
    r"^requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout"))
s2, s3, s4, s5 = map(int, find(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx"))
if failed or errored or timeout or s3 or s4 or s5 or ok == 0 or s2 == 0:
    sys.exit(f"bench/protocols.sh: {name}: {ok} succeeded, {failed} failed, {errored} errored, "
             f"{timeout} timed out; status codes {s2} 2xx, {s3} 3xx, {s4} 4xx, {s5} 5xx")
got, = find(r"^Application protocol: (\S+)")
if got != alpn:
    sys.exit(f"bench/protocols.sh: {name}: negotiated {got}, not {alpn}")
tls = re.search(r"^TLS Protocol: (\S+)", text, re.M)
cipher = re.search(r"^Cipher: (\S+)", text, re.M)
if name.split("/")[0].endswith("_tls"):
    if not tls or tls.group(1) != "TLSv1.3":
        sys.exit(f"bench/protocols.sh: {name}: TLS protocol {tls and tls.group(1)}, not TLSv1.3")
elif tls:
    sys.exit(f"bench/protocols.sh: {name}: TLS ({tls.group(1)}) where none was asked for")
mean, = find(r"^time for request:\s+\S+\s+\S+\s+(\S+)")
print(rps, f"mean={mean}", tls.group(1) if tls else "-", cipher.group(1) if cipher else "-")
PY
}

# measure PROTOCOL TARGET -> prints "rps latency tls_protocol cipher"
measure() {
  local protocol="$1" target="$2" args=() rps p50 p99
  if [[ "$protocol" == h1_tls_new ]]; then
    args=(-t 1 -c "$CONNECTIONS" -H "Connection: close")
    [[ -n "$(header "$protocol" "$target")" ]] && args+=(-H "$(header "$protocol" "$target")")
    wrk "${args[@]}" -d "$WARMUP" "$(url "$protocol" "$target")" >/dev/null
    read -r rps p50 p99 < <(wrk_measure "$protocol/$target" "${args[@]}" -d "$DURATION" \
      "$(url "$protocol" "$target")")
    echo "$rps p50=${p50}us,p99=${p99}us - -"
    return
  fi
  read -r -a args <<<"$(h2load_args "$protocol")"
  [[ -n "$(header "$protocol" "$target")" ]] && args+=(-H "$(header "$protocol" "$target")")
  h2load_checked "$work/h2load.out" "$protocol/$target" "${alpn[$protocol]}" \
    -t 1 -c "$CONNECTIONS" -D "$DURATION" --warm-up-time "$WARMUP" "${args[@]}" \
    "$(url "$protocol" "$target")"
}

if [[ "$CALLGRIND" == 1 ]]; then
  REQUESTS="${REQUESTS:-2000}"
  # requests PROTOCOL TARGET COUNT: COUNT requests over one connection, one at a time.
  requests() {
    local args=()
    [[ "$1" == h1* ]] && args=(--h1)
    [[ -n "$(header "$1" "$2")" ]] && args+=(-H "$(header "$1" "$2")")
    h2load_checked "$work/h2load.out" "$1/$2" "${alpn[$1]}" -t 1 -c 1 -m 1 -n "$3" "${args[@]}" \
      "$(url "$1" "$2")" >/dev/null
  }
  echo "callgrind: instructions the gateway executes per request, $REQUESTS requests per pair (h2load -c1 -m1); token header to gw_none: $([[ "$TOKEN_TO_NONE" == 1 ]] && echo yes || echo no)"
  for protocol in $PROTOCOLS; do
    pid="$pid_plain" file="$work/callgrind.plain"
    [[ "$protocol" == *_tls ]] && pid="$pid_tls" file="$work/callgrind.tls"
    for target in $TARGETS; do
      requests "$protocol" "$target" 200
      per_request="$(callgrind_count "$pid" "$file" "$protocol/$target" "$REQUESTS" \
        requests "$protocol" "$target" "$REQUESTS")"
      printf '%-16s %10d instructions per request\n' "$protocol/$target" "$per_request"
    done
  done
  exit 0
fi

# pairs ROUND: the (protocol, target) pairs of that round in order. The protocols' order rotates
# every round and so does the targets' order within each protocol; the targets of one protocol
# stay next to each other in time, so a change in what else the machine does falls on both
# sides of a ratio.
read -r -a protocols <<<"$PROTOCOLS"
read -r -a targets <<<"$TARGETS"
pairs() {
  local round="$1" p t protocol
  for ((p = 0; p < ${#protocols[@]}; p++)); do
    protocol="${protocols[$(((p + round - 1) % ${#protocols[@]}))]}"
    for ((t = 0; t < ${#targets[@]}; t++)); do
      echo "$protocol/${targets[$(((t + round - 1) % ${#targets[@]}))]}"
    done
  done
}
echo "h2load -t1 -c$CONNECTIONS (-m$STREAMS for HTTP/2, -m1 for HTTP/1.1), $DURATION per pair (after $WARMUP warm-up), $ROUNDS rounds"
[[ " $PROTOCOLS " == *" h1_tls_new "* ]] &&
  echo "h1_tls_new: wrk -t1 -c$CONNECTIONS -H 'Connection: close' (a TLS handshake per request)"
echo "host: $(nproc) CPUs shared by h2load, the nginx upstream, nginx and sessiongate; SESSIONGATE_LOG=$SESSIONGATE_LOG; certificate: $KEY_TYPE; token header to nginx: $([[ "$NGINX_HEADER" == 1 ]] && echo yes || echo no), to gw_none: $([[ "$TOKEN_TO_NONE" == 1 ]] && echo yes || echo no)"
results="$work/results"
for ((round = 1; round <= ROUNDS; round++)); do
  for pair in $(pairs "$round"); do
    read -r rps latency tls cipher < <(measure "${pair%/*}" "${pair#*/}")
    printf 'round %d  %-20s %8.0f req/s  %-24s %s %s\n' "$round" "$pair" "$rps" "$latency" "$tls" "$cipher"
    echo "$round $pair $rps" >>"$results"
  done
done

specs=("-" "-requests/s ratios, gw / nginx per protocol (median over rounds; target >= 0.9)")
for protocol in $PROTOCOLS; do
  for target in $TARGETS; do
    [[ "$target" == nginx ]] && continue
    specs+=("$(printf '%-10s %-7s / nginx' "$protocol" "$target")|$protocol/$target|$protocol/nginx|0")
  done
done
summarize "$results" "${specs[@]}"
